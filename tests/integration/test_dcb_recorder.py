"""The eventsourcing library's own DCB recorder test case, run against our ledger tables.

`LedgerRecorder` is a tenant's ledger as a `DCBRecorder`: the library's suite appends, reads with
type and tag queries, fails conditional appends and follows a subscription. Each test uses a
fresh tenant, so positions start at 1 as the suite expects.
"""

from __future__ import annotations

import pytest
from eventsourcing.dcb.tests import DCBRecorderTestCase

from services.ledger.db import Database
from services.ledger.recorder import LedgerRecorder
from tests.conftest import new_tenant


class _LedgerRecorderCases(DCBRecorderTestCase):
    __test__ = False  # collected through the two stores below
    store = ""
    database: Database

    @pytest.fixture(autouse=True)
    def _database(self, request: pytest.FixtureRequest) -> None:
        url: str = request.getfixturevalue(f"{self.store}_url")
        self.database = Database(url)
        self.database.migrate()

    def test_append_read(self) -> None:
        self._test_append_read(LedgerRecorder(self.database, new_tenant()))

    def test_append_subscribe(self) -> None:
        self._test_append_subscribe(LedgerRecorder(self.database, new_tenant()))

    def test_tenants_count_apart(self) -> None:
        first, second = (LedgerRecorder(self.database, new_tenant()) for _ in range(2))
        self._test_append_read(first)
        self._test_append_read(second)  # starts at 1 again: the first tenant is invisible


class TestLedgerRecorderOnSqlite(_LedgerRecorderCases):
    __test__ = True
    store = "sqlite"


class TestLedgerRecorderOnPostgres(_LedgerRecorderCases):
    __test__ = True
    store = "postgres"
