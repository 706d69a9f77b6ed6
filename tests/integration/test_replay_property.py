"""Replay equality (accumulation.md 1 and 2.9): the incrementally maintained read model equals a
rebuild from the ledger.

Random histories of one or two members of a fresh tenant (payer and tenant settings changes,
grants (some with pacing caps, 2.14, some of shared pools, 2.13), amendments, voids, service
removals, visits in every state (some confirmed with clock times, 2.12), with and without an
authorization number, billings that freeze a visit's allocation (2.11; some refused: a visit not
confirmed, billed twice, changed after billing), opening balances of keys (2.17), and claims
accumulators: schedules, enrollments, claims inside and outside eligibility, with and without
`schedule_id`, their changes, opening balances; see `replay_claims.py`; and benefit limits of
every period type, rolling and episode included, their amendments and verifications; see
`replay_benefits.py`) are recorded
in random batches through `Ledger.append`, with a clock that runs from before the first visit to
half way through the window, so confirmations land both inside their period and after it ended
(a day that depends on the tenant's time zone). Most events refer to lines and visits generated
before them; now and then one is refused.

After every batch:
- a recorded batch: every member's stored rows equal a replay of its events from the ledger, the
  `accumulator.changed` and `benefit.threshold_crossed` events stored so far equal those derived
  again from the ledger event by event, and sending the same batch again is answered
  `duplicate` and stores nothing;
- a refused batch (`LedgerError`, e.g. amending a voided line): the tenant's ledger and read model
  are unchanged.
At the end a recalculation of the tenant checks every member and corrects none, and emits no
threshold alert again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.ledger.db import Connection, Database
from services.ledger.errors import LedgerError
from services.ledger.group_commit import Ledger
from services.ledger.reader import member_events
from services.ledger.validation import validate_batch
from services.projections.core.facts import TENANT_WIDE_TYPES
from services.projections.core.serialize import MemberRows, member_rows
from services.projections.inline import InlineProjector
from services.projections.runner import read_member, recalculate, replay
from tests.conftest import new_tenant
from tests.integration.replay_benefits import (
    BenefitsHistory,
    rederived_thresholds,
    stored_thresholds,
)
from tests.integration.replay_claims import ClaimsHistory, rederived_changes, stored_changes

START = date(2026, 1, 4)  # a Sunday; lines and visits fall in the ten weeks from here
WINDOW_DAYS = 70
FIRST_NOW = datetime(2026, 1, 1, tzinfo=UTC)  # before the first visit: a clock that overtakes them
# The ledger never lets its clock go back: a recorded time is at least the last one stored, of any
# tenant. The examples share one database, so the clock stops half way through the window: for
# later examples too, confirmations land both in periods that ended and in current ones. (When
# other tests of the session wrote first, with the real clock, every batch is recorded then.)
LAST_NOW = datetime(2026, 2, 8, tzinfo=UTC)
PAYERS = ("p-1", "p-2")
# pairs that sort one way by code point and the other way in linguistic collations (a PostgreSQL
# database created with en_US or ICU): the read model must not depend on the database's collation
CODES = ("T1", "s2")
NUMBERS = ("B-1", "a-2")
FREQUENCIES = ("day", "week", "month", "span")
TIME_ZONES = ("UTC", "America/New_York", "Pacific/Pago_Pago", "Pacific/Kiritimati")
MIN_EVENTS, MAX_EVENTS = 10, 50  # after the opening ones; about 20 on average
# what each event after the first grant is, by weight
KINDS = (
    ("settings", 4),
    ("tenant settings", 2),
    ("grant", 3),
    ("amend", 4),
    ("void", 2),
    ("remove", 1),
    ("new visit", 6),
    ("visit change", 7),
    ("bill", 3),
    ("coverage", 2),
    ("claims", 8),
    ("opening", 1),
    ("benefits", 4),
)
POOL = "pool-1"  # a shared pool of both codes (2.13): refused where a code has a key already
OPENING_BALANCES = st.sampled_from(["0", "3", "-2", "7.5"])

Event = dict[str, Any]
# an event, what follows it ("more", "close" or "close+resend": its batch is sent twice) and, when
# it opens a batch, the hours the clock moves before that batch
Step = tuple[Event, str, int]

line_units = st.sampled_from(["0", "1", "2", "3", "4", "1.5"])
# pacing caps of a line (2.14): mostly none; a weekly cap, a weekend day cap, or both kinds
line_caps = st.sampled_from(
    [
        None,
        None,
        None,
        [{"per": "week", "units": "3"}],
        [{"per": "day", "units": "2", "days": ["saturday", "sunday"]}],
        [{"per": "day", "units": "1.5"}, {"per": "week", "units": "4"}],
    ]
)
visit_units = st.sampled_from(["0", "1", "2", "3", "4", "6", "8", "0.5"])
reasons = st.none() | st.just("per the payer's letter")
kinds = st.sampled_from([kind for kind, weight in KINDS for _ in range(weight)])
endings = st.sampled_from(["more", "more", "close", "close+resend"])
hours = st.integers(1, 120)  # an hour to five days


def _day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


days = st.integers(min_value=0, max_value=WINDOW_DAYS - 1).map(_day)


def _event(kind: str, data: dict[str, Any]) -> Event:
    return {
        "id": str(uuid.uuid4()),
        "type": kind,
        "data": {name: value for name, value in data.items() if value is not None},
    }


def _rarely(draw: st.DrawFn) -> bool:
    return draw(st.integers(0, 19)) == 0


@dataclass(frozen=True)
class _Line:
    member: str
    payer: str
    number: str
    code: str
    first: int  # day offsets in the window
    last: int


class _History:
    """What a history has generated so far, so most events refer to existing lines and visits."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.members: tuple[str, ...] = draw(st.sampled_from([("m-1",), ("m-1", "m-2")]))
        self.frequency_of = {number: draw(st.sampled_from(FREQUENCIES)) for number in NUMBERS}
        self.lines: dict[str, _Line] = {}
        self.visits: dict[str, int] = {}  # id -> day offset
        self.claims = ClaimsHistory(self, _event, _day)
        self.benefits = BenefitsHistory(self, _event, _day, PAYERS, CODES)

    def rarely(self) -> bool:
        return _rarely(self.draw)

    def fresh(self, known: list[str], prefix: str) -> str:
        return self._fresh(known, prefix)

    def reference(self, known: list[str], prefix: str) -> str:
        return self._reference(known, prefix)

    def _reference(self, known: list[str], prefix: str) -> str:
        """Mostly an id generated before; now and then a new one (refused as unknown)."""
        if known and not _rarely(self.draw):
            return self.draw(st.sampled_from(known))
        return f"{prefix}{len(known) + 1}"

    def _fresh(self, known: list[str], prefix: str) -> str:
        """Mostly a new id; now and then one generated before (refused: already recorded)."""
        if known and _rarely(self.draw):
            return self.draw(st.sampled_from(known))
        return f"{prefix}{len(known) + 1}"

    def _day(self) -> int:
        """Mostly a day some line covers or some visit falls on; else any day of the window."""
        draw = self.draw
        choice = draw(st.integers(0, 3))
        if choice < 2 and self.lines:
            line = self._line()
            return draw(st.integers(line.first, line.last))
        if choice == 2 and self.visits:
            return self.visits[draw(st.sampled_from(sorted(self.visits)))]
        return draw(st.integers(0, WINDOW_DAYS - 1))

    def _line(self) -> _Line:
        return self.lines[self.draw(st.sampled_from(sorted(self.lines)))]

    def settings(self, payer: str | None = None) -> Event:
        """Payer settings: applied to the whole history from where they are recorded (2.1).
        An opening one (for a given payer) sets everything, mostly allowing accumulation; a later
        one sets everything or only some settings."""
        draw = self.draw
        fields = {
            "allow_accumulation": st.booleans(),
            "include_scheduled_units": st.booleans(),
            "exclude_missed_days": st.booleans(),
            "week_starts_on": st.sampled_from(["sunday", "monday", "wednesday"]),
            # warnings only (section 3): must change no stored row
            "authorization_required": st.sampled_from([[], ["T1"], "all"]),
            # read by the reconciliation only (section 5): must change no stored row
            "benefit_code_map": st.sampled_from([{}, {"AE": "PT"}]),
            # clocked visits' units follow them (2.12): a change replays those visits
            "unit_minutes": st.sampled_from([60, 15, 45]),
            "rounding_minutes": st.sampled_from([15, 1, 10]),
        }
        if payer is not None:
            fields["allow_accumulation"] = st.integers(0, 3).map(bool)
        payer_id = st.just(payer) if payer else st.sampled_from(PAYERS)
        if payer is not None or draw(st.booleans()):
            data = draw(st.fixed_dictionaries({"payer_id": payer_id, **fields}))
        else:
            data = draw(st.fixed_dictionaries({"payer_id": payer_id}, optional=fields))
        return _event("payer.settings_changed", data)

    def tenant_settings(self) -> Event:
        """The tenant's time zone (section 3): its date decides whether a confirmation came after
        its period ended (backdated_confirmation) and the day of the alerts. Zones a day apart
        (UTC-11 and UTC+14) turn the same recorded time into different days."""
        zone = self.draw(st.sampled_from(TIME_ZONES))
        return _event("tenant.settings_changed", {"time_zone": zone})

    def grant(self) -> Event:
        draw = self.draw
        line = self._fresh(sorted(self.lines), "L")
        member = draw(st.sampled_from(self.members))
        number = draw(st.sampled_from(NUMBERS))
        code = draw(st.sampled_from(CODES))
        pooled = _rarely(draw) or draw(st.integers(0, 5)) == 0
        first = draw(st.integers(0, WINDOW_DAYS - 1))
        last = min(WINDOW_DAYS - 1, first + draw(st.integers(0, 30)))
        payer = draw(st.sampled_from(PAYERS))
        key_code = POOL if pooled else code
        self.lines.setdefault(line, _Line(member, payer, number, key_code, first, last))
        # now and then another frequency than the key's: refused while an active line disagrees
        frequency = self.frequency_of[number]
        if _rarely(draw):
            frequency = draw(st.sampled_from(FREQUENCIES))
        return _event(
            "authorization.granted",
            {
                "authorization_id": line,
                "authorization_number": number,
                "member_id": member,
                "payer_id": payer,
                **(
                    {"pool": POOL, "service_codes": list(CODES)}
                    if pooled
                    else {"service_code": code}
                ),
                "frequency": frequency,
                "units": draw(line_units),
                "start_date": _day(first),
                "end_date": _day(last),
                "caps": draw(line_caps),
            },
        )

    def amend(self) -> Event:
        draw = self.draw
        line = self._reference(sorted(self.lines), "L")
        known = self.lines.get(line)
        first, last = (known.first, known.last) if known else (0, WINDOW_DAYS - 1)
        changes = draw(st.sets(st.sampled_from(["units", "start_date", "end_date"]), min_size=1))
        # shift the start and end by up to two weeks either way (shorten, lengthen, move)
        start = max(0, first + draw(st.integers(-14, 14)))
        end = min(WINDOW_DAYS - 1, last + draw(st.integers(-14, 14)))
        if "start_date" in changes and "end_date" in changes and end < start:
            start, end = end, start
        return _event(
            "authorization.amended",
            {
                "authorization_id": line,
                "units": draw(line_units) if "units" in changes else None,
                "start_date": _day(start) if "start_date" in changes else None,
                "end_date": _day(end) if "end_date" in changes else None,
            },
        )

    def void(self) -> Event:
        line = self._reference(sorted(self.lines), "L")
        return _event(
            "authorization.voided", {"authorization_id": line, "reason": self.draw(reasons)}
        )

    def remove(self) -> Event:
        """Mostly a key granted before (refused when every line of it is gone already)."""
        draw = self.draw
        if not _rarely(draw):
            line = self._line()
            member, number, code = line.member, line.number, line.code
        else:
            member = draw(st.sampled_from(self.members))
            number = draw(st.sampled_from(NUMBERS))
            code = draw(st.sampled_from(CODES))
        return _event(
            "authorization.service_removed",
            {"member_id": member, "authorization_number": number, "service_code": code},
        )

    def new_visit(self) -> Event:
        """A visit scheduled, or confirmed without having been scheduled: mostly for the member,
        payer and service code of a line (with its number or without), else anything."""
        draw = self.draw
        visit = self._fresh(sorted(self.visits), "V")
        if draw(st.booleans()):
            line = self._line()
            member, payer, code = line.member, line.payer, line.code
            code = draw(st.sampled_from(CODES)) if code == POOL else code
            number = draw(st.none() | st.just(line.number))
        else:
            member = draw(st.sampled_from(self.members))
            payer = draw(st.sampled_from(PAYERS))
            code = draw(st.sampled_from(CODES))
            number = draw(st.none() | st.sampled_from(NUMBERS))
        day = self._day()
        self.visits.setdefault(visit, day)
        override = {"by": "supervisor-1", "reason": "family request"} if _rarely(draw) else None
        return _event(
            draw(st.sampled_from(["visit.scheduled", "visit.confirmed"])),
            {
                "visit_id": visit,
                "member_id": member,
                "payer_id": payer,
                "service_code": code,
                "service_date": _day(day),
                "units": draw(visit_units),
                "authorization_number": number,
                "override": override,
            },
        )

    def coverage(self) -> Event:
        """Coverage starts or ends (a visit outside it shows not_eligible); some are refused."""
        draw = self.draw
        return _event(
            draw(st.sampled_from(["coverage.started", "coverage.ended"])),
            {
                "member_id": draw(st.sampled_from(self.members)),
                "payer_id": draw(st.sampled_from(PAYERS)),
                "date": _day(draw(st.integers(0, WINDOW_DAYS - 1))),
            },
        )

    def visit_change(self) -> Event:
        """Confirm (with or without actual units), reschedule, miss or cancel a visit."""
        draw = self.draw
        if not self.visits:
            return self.new_visit()
        visit = self._reference(sorted(self.visits), "V")
        kind = draw(
            st.sampled_from(
                ["visit.confirmed", "visit.rescheduled", "visit.missed", "visit.cancelled"]
            )
        )
        if kind == "visit.confirmed" and draw(st.integers(0, 3)) == 0:
            data = self.clock_times()  # units from the shift (2.12)
        elif kind == "visit.confirmed":
            data = {"units": draw(st.none() | visit_units)}
        elif kind == "visit.rescheduled":
            changes = draw(st.sets(st.sampled_from(["service_date", "units"]), min_size=1))
            data = {
                "service_date": _day(self._day()) if "service_date" in changes else None,
                "units": draw(visit_units) if "units" in changes else None,
            }
        else:
            data = {"reason": draw(reasons)}
        return _event(kind, {"visit_id": visit, **data})

    def bill(self) -> Event:
        """A visit goes out on a claim (2.11): refused unless it is confirmed and not billed yet;
        once billed, its later changes are refused."""
        visit = self._reference(sorted(self.visits), "V")
        claim = self.draw(st.none() | st.just(f"CLM-{visit}"))
        return _event("visit.billed", {"visit_id": visit, "claim_reference": claim})

    def clock_times(self) -> Event:
        """A shift of up to 12 hours, with a UTC or a -05:00 offset (the minutes decide)."""
        draw = self.draw
        start = datetime(2026, 1, 5, 8, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 600)))
        end = start + timedelta(minutes=draw(st.integers(1, 720)))
        zone = draw(st.sampled_from([UTC, timezone(timedelta(hours=-5))]))
        return {"clock_in": start.astimezone(zone).isoformat(), "clock_out": end.isoformat()}

    def opening(self) -> Event:
        """An opening balance (2.17) of a key granted before, now and then of an unknown one."""
        draw = self.draw
        line = self._line()
        code = line.code if not _rarely(draw) else "unknown"
        return _event(
            "accumulation.opening_balance",
            {
                "member_id": line.member,
                "payer_id": line.payer,
                "authorization_number": line.number,
                "service_code": code,
                "as_of": _day(draw(st.integers(0, WINDOW_DAYS - 1))),
                "balance": draw(OPENING_BALANCES),
                "source": "previous system",
            },
        )


@st.composite
def _step(draw: st.DrawFn, history: _History) -> Step:
    """One more event of the history, how its batch continues and how far the clock moves."""
    history.draw = draw  # the step's draws belong to its list element: shrinking drops it whole
    makers = {
        "settings": history.settings,
        "tenant settings": history.tenant_settings,
        "grant": history.grant,
        "amend": history.amend,
        "void": history.void,
        "remove": history.remove,
        "new visit": history.new_visit,
        "visit change": history.visit_change,
        "bill": history.bill,
        "coverage": history.coverage,
        "claims": history.claims.step,
        "opening": history.opening,
        "benefits": history.benefits.step,
    }
    return makers[draw(kinds)](), draw(endings), draw(hours)


@st.composite
def histories(draw: st.DrawFn) -> tuple[tuple[str, ...], list[Step]]:
    """The members and the steps of one history: settings and a grant first, then anything."""
    history = _History(draw)
    opening = [history.settings(payer) for payer in PAYERS if draw(st.integers(0, 3)) > 0]
    opening.append(history.grant())
    if draw(st.integers(0, 3)) > 0:
        opening += history.claims.opening()
    steps = [(event_, draw(endings), draw(hours)) for event_ in opening]
    steps += draw(st.lists(_step(history), min_size=MIN_EVENTS, max_size=MAX_EVENTS))
    return history.members, steps


def batches(steps: list[Step]) -> list[tuple[list[Event], bool, int]]:
    """The events split where a step closes its batch: (events, sent twice, hours before it)."""
    result: list[tuple[list[Event], bool, int]] = []
    current: list[Event] = []
    moved = 0
    for event_, ending, step_hours in steps:
        if not current:
            moved = step_hours
        current.append(event_)
        if ending != "more":
            result.append((current, ending == "close+resend", moved))
            current = []
    if current:
        result.append((current, False, moved))
    return result


@dataclass
class Store:
    """One migrated database for the whole module: its ledger and a connection to read it."""

    ledger: Ledger
    connection: Connection


@pytest.fixture(scope="module")
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    yield from _store(sqlite_url)


@pytest.fixture(scope="module")
def postgres_store(postgres_url: str) -> Iterator[Store]:
    yield from _store(postgres_url)


def _store(url: str) -> Iterator[Store]:
    database = Database(url)
    database.migrate()
    connection = database.connect()
    try:
        yield Store(Ledger(database, InlineProjector()), connection)
    finally:
        connection.close()


def ledger_count(connection: Connection, tenant: str) -> int:
    rows = connection.execute("SELECT COUNT(*) FROM ledger_events WHERE tenant = ?", (tenant,))
    return int(rows[0][0])


def stored_rows(store: Store, tenant: str, members: tuple[str, ...]) -> list[MemberRows | None]:
    return [read_member(store.connection, tenant, member) for member in members]


def assert_rebuild_equals_stored(store: Store, tenant: str, members: tuple[str, ...]) -> int:
    """Every member's stored rows equal a replay of its events; returns the members with events."""
    with_events = 0
    for member in members:
        stored = read_member(store.connection, tenant, member)
        events = member_events(store.connection, tenant, member)
        if all(e.type in TENANT_WIDE_TYPES for e in events):
            assert stored is None, f"{member} has no events of its own but stored rows"
            continue
        with_events += 1
        rebuilt = replay(member, events)
        assert stored == member_rows(rebuilt), f"stored rows of {member} differ from a rebuild"
        for flag in rebuilt.flags.values():
            event(f"negative accrual: {flag.cause}")
    return with_events


def check_replay_equality(store: Store, members: tuple[str, ...], steps: list[Step]) -> None:
    tenant = new_tenant()
    now = FIRST_NOW
    for batch, resend, moved in batches(steps):
        now = min(LAST_NOW, now + timedelta(hours=moved))
        count = ledger_count(store.connection, tenant)
        before = stored_rows(store, tenant, members)
        try:
            outcomes = store.ledger.append(
                tenant, validate_batch({"events": batch}), may_override=True, now=now
            )
        except LedgerError as error:
            event(f"refused: {error.details[0].problem.split(' (')[0]}")
            assert ledger_count(store.connection, tenant) == count, "a refused batch stored events"
            assert stored_rows(store, tenant, members) == before, "a refused batch changed rows"
            continue
        assert [o.status for o in outcomes] == ["recorded"] * len(batch)
        assert ledger_count(store.connection, tenant) == count + len(batch)
        assert_rebuild_equals_stored(store, tenant, members)
        assert_claims_feed_equals_rederived(store, tenant)
        assert_threshold_alerts_equal_rederived(store, tenant)
        if resend:
            after = stored_rows(store, tenant, members)
            again = store.ledger.append(
                tenant,
                validate_batch({"events": batch}),
                may_override=True,
                now=now + timedelta(minutes=5),
            )
            assert [(o.status, o.position, o.recorded_at) for o in again] == [
                ("duplicate", o.position, o.recorded_at) for o in outcomes
            ]
            assert ledger_count(store.connection, tenant) == count + len(batch)
            assert stored_rows(store, tenant, members) == after
    with_events = assert_rebuild_equals_stored(store, tenant, members)
    assert_claims_feed_equals_rederived(store, tenant)
    assert_threshold_alerts_equal_rederived(store, tenant)
    assert recalculate(store.connection, tenant) == (with_events, 0)
    assert_threshold_alerts_equal_rederived(store, tenant)  # a rebuild emits none again


def assert_claims_feed_equals_rederived(store: Store, tenant: str) -> None:
    stored = stored_changes(store.connection, tenant)
    assert stored == rederived_changes(store.connection, tenant), "accumulator.changed differ"
    if stored:
        event("claims moved accumulators")


def assert_threshold_alerts_equal_rederived(store: Store, tenant: str) -> None:
    stored = stored_thresholds(store.connection, tenant)
    assert stored == rederived_thresholds(store.connection, tenant), "threshold alerts differ"
    if stored:
        event("benefit thresholds crossed")


COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@settings(max_examples=200, **COMMON)
@given(history=histories())
def test_rebuild_equals_incremental_on_sqlite(sqlite_store: Store, history) -> None:
    check_replay_equality(sqlite_store, *history)


@settings(max_examples=40, **COMMON)
@given(history=histories())
def test_rebuild_equals_incremental_on_postgres(postgres_store: Store, history) -> None:
    check_replay_equality(postgres_store, *history)
