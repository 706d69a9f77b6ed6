"""Group commit: many callers' batches recorded in one transaction, each still all or nothing.

The property: a random history's batches queued together and committed as one group are answered
exactly as when each batch is appended alone (recorded or refused, with the same error), store the
same events in the same order, and leave stored rows equal to a rebuild. A refused batch in the
middle of a group makes the group be checked again without it, so this covers that path too.
Concurrent callers on threads are checked for gap-free positions in arrival order.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ledger.append import EventOutcome, Request
from services.ledger.db import Database
from services.ledger.errors import EventIdReusedError, LedgerError
from services.ledger.group_commit import Ledger
from services.ledger.validation import validate_batch
from services.projections.inline import InlineProjector
from tests.conftest import new_tenant
from tests.integration.test_replay_property import (
    COMMON,
    FIRST_NOW,
    Store,
    _store,
    assert_rebuild_equals_stored,
    batches,
    histories,
    ledger_count,
)

Answer = list[tuple[str, str]] | str  # (id, status) per event, or the refusal's error class


@pytest.fixture(scope="module")
def store(database_url: str) -> Iterator[Store]:
    yield from _store(database_url)


def _answer(outcomes: list[EventOutcome] | None, error: BaseException | None) -> Answer:
    if error is not None:
        assert isinstance(error, LedgerError), f"not a refusal: {error!r}"
        return type(error).__name__
    assert outcomes is not None
    return [(outcome.event_id, outcome.status) for outcome in outcomes]


def _one_by_one(store: Store, tenant: str, sent: list[list[dict[str, Any]]]) -> list[Answer]:
    answers: list[Answer] = []
    for events in sent:
        try:
            outcomes = store.ledger.append(
                tenant, validate_batch({"events": events}), may_override=True, now=FIRST_NOW
            )
        except LedgerError as error:
            answers.append(_answer(None, error))
        else:
            answers.append(_answer(outcomes, None))
    return answers


def _grouped(store: Store, tenant: str, sent: list[list[dict[str, Any]]]) -> list[Answer]:
    ledger = store.ledger
    requests = [
        Request(tenant, validate_batch({"events": events}), True, FIRST_NOW) for events in sent
    ]
    ledger._queue.extend(requests)
    ledger._commit(ledger._take())
    return [_answer(request.outcomes, request.error) for request in requests]


def _events(store: Store, tenant: str) -> list[tuple[str, str]]:
    return [
        (row[0], row[1])
        for row in store.connection.execute(
            "SELECT event_id, data FROM ledger_events WHERE tenant = ? ORDER BY position",
            (tenant,),
        )
    ]


def _derived(store: Store, tenant: str) -> list[tuple[int, str, dict[str, Any]]]:
    """The tenant's derived events without what depends on other tenants (ledger positions)."""
    found = []
    for sequence, event_type, data in store.connection.execute(
        "SELECT sequence, type, data FROM derived_events WHERE tenant = ? ORDER BY sequence",
        (tenant,),
    ):
        body = json.loads(data)
        body.pop("position", None)
        body.pop("as_of", None)
        found.append((int(sequence), event_type, body))
    return found


@settings(max_examples=25, **COMMON)
@given(history=histories())
def test_a_group_answers_and_stores_as_batches_one_by_one(store: Store, history) -> None:
    members, steps = history
    sent: list[list[dict[str, Any]]] = []
    for events, resend, _ in batches(steps):
        sent.append(events)
        if resend:
            sent.append(events)
    alone, together = new_tenant(), new_tenant()
    assert _grouped(store, together, sent) == _one_by_one(store, alone, sent)
    assert _events(store, together) == _events(store, alone)
    assert _derived(store, together) == _derived(store, alone)
    assert_rebuild_equals_stored(store, together, members)


@settings(max_examples=25, **COMMON)
@given(history=histories(), writers=st.lists(st.integers(0, 1), min_size=1, max_size=40))
def test_two_writers_sharing_a_tenant_answer_as_one(store: Store, history, writers) -> None:
    """Batches appended by two writers in turn (two `serve` processes): each writer catches its
    cached members up with what the other recorded (`MemberCache`), so the derived events and
    stored rows are those of one writer appending everything."""
    members, steps = history
    sent = [events for events, _, _ in batches(steps)]
    second = Ledger(store.ledger.database, InlineProjector())
    writers_ = [store.ledger, second]
    alone, shared = new_tenant(), new_tenant()
    answers_alone = _one_by_one(store, alone, sent)
    answers_shared: list[Answer] = []
    for index, events in enumerate(sent):
        writer = writers_[writers[index % len(writers)]]
        try:
            outcomes = writer.append(
                shared, validate_batch({"events": events}), may_override=True, now=FIRST_NOW
            )
        except LedgerError as error:
            answers_shared.append(_answer(None, error))
        else:
            answers_shared.append(_answer(outcomes, None))
    assert answers_shared == answers_alone
    assert _events(store, shared) == _events(store, alone)
    assert _derived(store, shared) == _derived(store, alone)
    assert_rebuild_equals_stored(store, shared, members)


def _visit(member: str, number: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "visit.scheduled",
        "data": {
            "visit_id": f"{member}-visit-{number}",
            "member_id": member,
            "payer_id": "p-1",
            "service_code": "T1019",
            "service_date": "2026-01-06",
            "units": "1",
        },
    }


def test_a_refused_batch_in_a_group_stores_nothing_and_others_are_recorded(store: Store) -> None:
    tenant = new_tenant()
    first = _visit("m-1", 1)
    reused = dict(first, data=dict(first["data"], units="2"))  # same id, another body
    unknown = {"id": str(uuid.uuid4()), "type": "visit.cancelled", "data": {"visit_id": "nope"}}
    answers = _grouped(
        store,
        tenant,
        [[first], [_visit("m-1", 2), unknown], [reused], [first, _visit("m-2", 1)]],
    )
    assert answers == [
        [(first["id"], "recorded")],
        "InvalidEventError",
        EventIdReusedError.__name__,
        [(first["id"], "duplicate"), (answers[3][1][0], "recorded")],  # type: ignore[index]
    ]
    assert ledger_count(store.connection, tenant) == 2
    assert_rebuild_equals_stored(store, tenant, ("m-1", "m-2"))


def test_concurrent_callers_get_gap_free_positions(database_url: str) -> None:
    database = Database(database_url)
    database.migrate()
    ledger = Ledger(database, InlineProjector())
    tenant = new_tenant()
    positions: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def caller(number: int) -> None:
        try:
            for visit in range(10):
                events = [_visit(f"m-{number}", visit)]
                now = datetime.now(UTC) + timedelta(days=1)
                outcomes = ledger.append(
                    tenant, validate_batch({"events": events}), may_override=False, now=now
                )
                with lock:
                    positions.extend(outcome.position for outcome in outcomes)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(positions) == 80
    connection = database.connect()
    try:
        stored = [
            int(row[0])
            for row in connection.execute(
                "SELECT position FROM ledger_events WHERE tenant = ? ORDER BY position", (tenant,)
            )
        ]
    finally:
        connection.close()
    assert sorted(positions) == stored
    assert stored == list(range(stored[0], stored[0] + 80))  # the only writer: no gaps
