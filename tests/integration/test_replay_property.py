"""Replay equality: the incrementally maintained read model equals a rebuild from the ledger.

Random histories (grants, amendments, voids, removals, visits in every state, settings changes)
are recorded in random batches through `Ledger.append`; refused batches must leave the ledger
unchanged. Then every member's stored rows must equal a replay of its events.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ledger.append import Ledger
from services.ledger.db import Database
from services.ledger.errors import LedgerError
from services.ledger.validation import validate_batch
from services.projections.runner import member_events, read_member, recalculate, replay
from services.projections.serialize import member_rows
from tests.conftest import new_tenant

START = date(2026, 1, 4)
MEMBERS = ("m-1", "m-2")
PAYERS = ("p-1", "p-2")
CODES = ("S1", "S2")
NUMBERS = ("N-1", "N-2")
LINES = ("L1", "L2", "L3")
VISITS = ("V1", "V2", "V3", "V4", "V5")

days = st.integers(min_value=0, max_value=70).map(lambda n: (START + timedelta(days=n)).isoformat())
units = st.integers(min_value=0, max_value=12).map(str)


def _event(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "data": data}


settings_changed = st.builds(
    lambda payer, acc, sched, missed, week: _event(
        "payer.settings_changed",
        {
            "payer_id": payer,
            "allow_accumulation": acc,
            "include_scheduled_units": sched,
            "exclude_missed_days": missed,
            "week_starts_on": week,
        },
    ),
    st.sampled_from(PAYERS),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["sunday", "monday", "wednesday"]),
)


def _grant(line, number, member, payer, code, frequency, amount, first, length):
    start = START + timedelta(days=first)
    return _event(
        "authorization.granted",
        {
            "authorization_id": line,
            "authorization_number": number,
            "member_id": member,
            "payer_id": payer,
            "service_code": code,
            "frequency": frequency,
            "units": amount,
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=length)).isoformat(),
        },
    )


amendments = st.builds(
    lambda line, amount, end: _event(
        "authorization.amended",
        {"authorization_id": line, "units": amount}
        if end is None
        else {"authorization_id": line, "end_date": end},
    ),
    st.sampled_from(LINES),
    units,
    st.none() | days,
)
voids = st.builds(
    lambda line: _event("authorization.voided", {"authorization_id": line}), st.sampled_from(LINES)
)
removals = st.builds(
    lambda member, number, code: _event(
        "authorization.service_removed",
        {"member_id": member, "authorization_number": number, "service_code": code},
    ),
    st.sampled_from(MEMBERS),
    st.sampled_from(NUMBERS),
    st.sampled_from(CODES),
)


def _new_visit(kind, visit, member, payer, code, day, amount, number):
    data = {
        "visit_id": visit,
        "member_id": member,
        "payer_id": payer,
        "service_code": code,
        "service_date": day,
        "units": amount,
    }
    if number is not None:
        data["authorization_number"] = number
    return _event(kind, data)


new_visits = st.builds(
    _new_visit,
    st.sampled_from(["visit.scheduled", "visit.confirmed"]),
    st.sampled_from(VISITS),
    st.sampled_from(MEMBERS),
    st.sampled_from(PAYERS),
    st.sampled_from(CODES),
    days,
    units,
    st.none() | st.sampled_from(NUMBERS),
)
visit_changes = st.builds(
    lambda kind, visit, day, amount: _event(
        kind,
        {"visit_id": visit}
        if kind in ("visit.missed", "visit.cancelled")
        else {"visit_id": visit, "units": amount}
        if kind == "visit.confirmed" or day is None
        else {"visit_id": visit, "service_date": day},
    ),
    st.sampled_from(["visit.confirmed", "visit.missed", "visit.cancelled", "visit.rescheduled"]),
    st.sampled_from(VISITS),
    st.none() | days,
    units,
)


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[dict[str, Any], bool]]:
    """Lines and visits first (so later events mostly refer to something), then changes."""
    frequency = {n: draw(st.sampled_from(["day", "week", "month", "span"])) for n in NUMBERS}
    events = [draw(settings_changed)]
    for line in LINES:
        number = draw(st.sampled_from(NUMBERS))
        events.append(
            _grant(
                line,
                number,
                draw(st.sampled_from(MEMBERS)),
                draw(st.sampled_from(PAYERS)),
                draw(st.sampled_from(CODES)),
                frequency[number],
                draw(units),
                draw(st.integers(0, 40)),
                draw(st.integers(0, 40)),
            )
        )
    visits = draw(
        st.lists(new_visits, min_size=1, max_size=6, unique_by=lambda e: e["data"]["visit_id"])
    )
    changes = st.one_of(settings_changed, amendments, voids, removals, visit_changes, visit_changes)
    events += draw(st.permutations(visits)) + draw(st.lists(changes, max_size=14))
    return [(event, draw(st.booleans())) for event in events]


def _batches(history: list[tuple[dict[str, Any], bool]]) -> list[list[dict[str, Any]]]:
    batches: list[list[dict[str, Any]]] = [[]]
    for event, close in history:
        batches[-1].append(event)
        if close:
            batches.append([])
    return [batch for batch in batches if batch]


def _count(connection, tenant: str) -> int:
    rows = connection.execute("SELECT COUNT(*) FROM ledger_events WHERE tenant = ?", (tenant,))
    return int(rows[0][0])


def check_replay_equality(url: str, history: list[tuple[dict[str, Any], bool]]) -> None:
    database = Database(url)
    ledger = Ledger(database)
    tenant = new_tenant()
    connection = database.connect()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        for batch in _batches(history):
            now += timedelta(hours=20)  # some confirmations land after their period ended
            before = _count(connection, tenant)
            try:
                ledger.append(tenant, validate_batch({"events": batch}), may_override=True, now=now)
            except LedgerError:
                assert _count(connection, tenant) == before, "a refused batch stored something"
        for member in MEMBERS:
            stored = read_member(connection, tenant, member)
            events = member_events(connection, tenant, member)
            if not [e for e in events if e.type != "payer.settings_changed"]:
                assert stored is None
                continue
            assert stored == member_rows(replay(member, events))
        assert recalculate(connection, tenant)[1] == 0
    finally:
        connection.close()


COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@pytest.fixture(scope="module")
def migrated(sqlite_url: str, postgres_url: str) -> dict[str, str]:
    for url in (sqlite_url, postgres_url):
        Database(url).migrate()
    return {"sqlite": sqlite_url, "postgres": postgres_url}


@settings(max_examples=200, **COMMON)
@given(history=histories())
def test_rebuild_equals_incremental_on_sqlite(migrated: dict[str, str], history) -> None:
    check_replay_equality(migrated["sqlite"], history)


@settings(max_examples=40, **COMMON)
@given(history=histories())
def test_rebuild_equals_incremental_on_postgres(migrated: dict[str, str], history) -> None:
    check_replay_equality(migrated["postgres"], history)
