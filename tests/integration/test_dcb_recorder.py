"""The eventsourcing library's own DCB recorder test case, run against our ledger tables.

`LedgerRecorder` is a tenant's ledger as a `DCBRecorder`: the library's suite appends, reads with
type and tag queries, fails conditional appends and follows a subscription. Each test uses a
fresh tenant, so positions start at 1 as the suite expects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.dcb.tests import DCBRecorderTestCase

from services.ledger.db import Database
from services.ledger.recorder import LedgerRecorder
from tests.conftest import fresh_postgres_database, new_tenant


class _LedgerRecorderCases(DCBRecorderTestCase):
    __test__ = False  # collected through the two stores below
    store = ""
    database: Database

    @pytest.fixture(autouse=True)
    def _database(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
        """A database of its own: events appended below the service leave no read model, so
        in the shared one their tenants would look like lagging projections."""
        if self.store == "sqlite":
            self.database = Database(f"sqlite:///{tmp_path / 'dcb.db'}")
            self.database.migrate()
            yield
            return
        server: str = request.getfixturevalue("postgres_server_url")
        with fresh_postgres_database(server, "benefit_ledger_dcb") as url:
            self.database = Database(url)
            self.database.migrate()
            yield
            self.database.thread_connection().close()

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
