"""Tenants never wait for each other: a tenant whose head is held (a rebuild chunk, another
process's group) holds up only its own writers, in the same process too (PostgreSQL; SQLite has
one writer at a time by design)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from services.ledger.db import Database
from services.ledger.group_commit import Ledger
from services.ledger.recorder import lock_heads
from services.ledger.validation import validate_batch
from services.projections.inline import InlineProjector
from tests.conftest import new_tenant

WAIT_S = 20  # a bound for a hang, not a timing assertion


def grant(member: str) -> list[dict[str, Any]]:
    return [
        {
            "id": str(uuid.uuid4()),
            "type": "authorization.granted",
            "data": {
                "authorization_id": f"line-{uuid.uuid4().hex[:8]}",
                "authorization_number": "AUTH-1",
                "member_id": member,
                "payer_id": "payer-1",
                "service_code": "T1019",
                "frequency": "week",
                "units": "10",
                "start_date": "2026-10-04",
                "end_date": "2026-10-31",
            },
        }
    ]


def test_a_held_tenant_does_not_hold_up_another(postgres_url: str) -> None:
    database = Database(postgres_url)
    database.migrate()
    ledger = Ledger(database, InlineProjector())
    held, free = new_tenant(), new_tenant()
    for tenant in (held, free):  # both have heads and members already
        ledger.append(
            tenant,
            validate_batch({"events": grant("m-1")}),
            may_override=False,
            now=datetime.now(UTC),
        )
    blocker = database.connect()
    done = threading.Event()
    outcome: list[Any] = []

    def write_held() -> None:
        try:
            outcome.append(
                ledger.append(
                    held,
                    validate_batch({"events": grant("m-2")}),
                    may_override=False,
                    now=datetime.now(UTC),
                )
            )
        except BaseException as error:
            outcome.append(error)
        done.set()

    try:
        with blocker.transaction():
            lock_heads(blocker, [held], shared=True)  # as a rebuild chunk holds it
            writer = threading.Thread(target=write_held)
            writer.start()
            assert not done.wait(0.5), "the held tenant's write went through its held head"
            answered = threading.Event()

            def write_free() -> None:
                ledger.append(
                    free,
                    validate_batch({"events": grant("m-2")}),
                    may_override=False,
                    now=datetime.now(UTC),
                )
                answered.set()

            threading.Thread(target=write_free, daemon=True).start()
            assert answered.wait(WAIT_S), "a write of another tenant waited for the held one"
            assert not done.is_set()
        assert done.wait(WAIT_S)
        writer.join(WAIT_S)
    finally:
        blocker.close()
    assert not isinstance(outcome[0], BaseException), outcome[0]
    assert outcome[0][0].position == 2


@pytest.mark.parametrize("tenants", [2, 6])
def test_many_tenants_many_writers_stay_gap_free(postgres_url: str, tenants: int) -> None:
    database = Database(postgres_url)
    database.migrate()
    ledger = Ledger(database, InlineProjector())
    names = [new_tenant() for _ in range(tenants)]
    errors: list[BaseException] = []

    def writer(tenant: str, number: int) -> None:
        try:
            for _ in range(5):
                ledger.append(
                    tenant,
                    validate_batch({"events": grant(f"m-{number}")}),
                    may_override=False,
                    now=datetime.now(UTC),
                )
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=writer, args=(tenant, number))
        for tenant in names
        for number in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S * 3)
    assert errors == []
    connection = database.connect()
    try:
        for tenant in names:
            positions = [
                int(row[0])
                for row in connection.execute(
                    "SELECT position FROM ledger_events WHERE tenant = ? ORDER BY position",
                    (tenant,),
                )
            ]
            assert positions == list(range(1, 16))
            (head,) = connection.execute(
                "SELECT position FROM ledger_heads WHERE tenant = ?", (tenant,)
            )[0]
            (tracked,) = connection.execute(
                "SELECT position FROM projection_tracking WHERE tenant = ?", (tenant,)
            )[0]
            assert head == tracked == 15
    finally:
        connection.close()


def test_a_group_puts_back_a_tenant_whose_head_is_held(postgres_url: str) -> None:
    from services.ledger.append import Request

    database = Database(postgres_url)
    database.migrate()
    ledger = Ledger(database, InlineProjector())
    held, free = new_tenant(), new_tenant()
    for tenant in (held, free):
        ledger.append(
            tenant,
            validate_batch({"events": grant("m-1")}),
            may_override=False,
            now=datetime.now(UTC),
        )
    requests = [
        Request(tenant, validate_batch({"events": grant("m-2")}), False, datetime.now(UTC))
        for tenant in (held, free)
    ]
    blocker = database.connect()
    try:
        with blocker.transaction():
            lock_heads(blocker, [held], shared=True)
            ledger._queue.extend(requests)
            group = ledger._take()
            assert {request.tenant for request in group} == {held, free}  # one group
            ledger._commit(group)  # does not wait for the held head
            assert requests[1].outcomes is not None and requests[1].outcomes[0].position == 2
            assert requests[0].outcomes is None and requests[0].error is None
            assert ledger._queue == [requests[0]] and held in ledger._contended
    finally:
        blocker.close()
    retry = ledger._take()
    assert retry == [requests[0]]  # alone: it waits for its head, and nobody with it
    ledger._commit(retry)
    assert requests[0].outcomes is not None and requests[0].outcomes[0].position == 2
    assert held not in ledger._contended


def test_a_batch_the_database_rejects_fails_alone(database_url: str) -> None:
    """A value the database refuses (PostgreSQL stores no NUL character) fails its own batch,
    not the other tenants' batches committed in the same group."""
    from services.ledger.append import Request

    database = Database(database_url)
    database.migrate()
    ledger = Ledger(database, InlineProjector())
    good, bad = new_tenant(), new_tenant()
    # validation refuses a NUL since; a candidate altered after it stands for any value the
    # database alone rejects
    poisoned = [
        replace(candidate, data_json=candidate.data_json.replace("m-0", "m-\x00"))
        for candidate in validate_batch({"events": grant("m-0")})
    ]
    requests = [
        Request(bad, poisoned, False, datetime.now(UTC)),
        Request(good, validate_batch({"events": grant("m-1")}), False, datetime.now(UTC)),
    ]
    ledger._queue.extend(requests)
    group = ledger._take()
    assert len(group) == 2
    ledger._commit(group)
    assert requests[1].error is None and requests[1].outcomes is not None
    assert requests[1].outcomes[0].position == 1
    if database.dialect == "postgres":
        assert requests[0].error is not None
    else:  # SQLite stores it: the batch is simply recorded
        assert requests[0].outcomes is not None
