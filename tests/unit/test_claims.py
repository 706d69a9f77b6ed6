"""accumulation.md 4.1-4.2 and 4.5: claims accumulators, applied and remaining.

For an effective date E and a schedule, the benefit period holding E; each accumulator's applied
amount is the sum of what claims with status `paid` or `released` applied to it on lines whose
from-date lies in that period (the latest version of each claim: `claim.adjusted` replaces the
lines, the last `claim.status_changed` gives the status, a voided claim applies nothing);
remaining = amount - applied, never below 0. A family accumulator sums every member of the family,
an individual one the member's own claims. An accumulator kept `per` illness or tooth has one row
per illness or tooth. Day accumulators count days; the reversion level of a day is found by its
day number in the period. The events are folded as the ledger stores them: JSON-normalized data,
decimals and dates as strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.events import EVENT_TYPES
from services.projections.core.claim_events import (
    ACCUMULATOR_CHANGED,
    ACCUMULATOR_MET,
    changes,
    claim_dates,
    claim_schedules,
    rows_on,
)
from services.projections.core.claims import (
    Claim,
    ClaimLine,
    Enrollment,
    Row,
    Schedule,
    accumulator_rows,
    enrollment_on,
    level_label,
)
from services.projections.core.costshare import Level
from services.projections.core.facts import LedgerEvent, MemberFacts

MEMBER = "m1"
SCHEDULE = "S1"
PLAN = "medical"
FAMILY = "F"
RECORDED = datetime(2026, 1, 1, tzinfo=UTC)
CALENDAR_YEAR = {"type": "calendar_year"}
PLAN_YEAR = {"type": "plan_year", "start_month": 7, "start_day": 1}
LIFETIME = {"type": "lifetime"}
LEVELS_70_50 = [
    {"from_day": 1, "to_day": 4, "coinsurance_percent": "70"},
    {"from_day": 5, "coinsurance_percent": "50"},
]
DAY = date(2026, 3, 2)  # a service day inside every first period below


def accumulator(code: str, type_: str, amount: str | int | None = None, **extra: Any) -> dict:
    found: dict[str, Any] = {
        "code": code,
        "description": f"{code} accumulator",
        "type": type_,
        "level": "individual",
        "network": "any",
    }
    if amount is not None:
        found["amount"] = str(amount)
    return {**found, **extra}


DEDUCTIBLE = accumulator("DED", "deductible", 500)
FAMILY_DEDUCTIBLE = accumulator("FDED", "deductible", 1000, level="family")
OUT_OF_POCKET = accumulator("OOP", "maximum", 3000, kind="out_of_pocket")
BENEFIT = accumulator("BEN", "maximum", 10000, kind="benefit")
SNF_DAYS = accumulator("SNF", "day", 100)
REVERSION = accumulator("REV", "reversion", levels=LEVELS_70_50)
EVERY_TYPE = [DEDUCTIBLE, OUT_OF_POCKET, BENEFIT, SNF_DAYS, REVERSION]


def applies(**amounts: str | int) -> dict[str, str | int]:
    return amounts


def line(
    day: date,
    applied: dict[str, str | int],
    number: int = 1,
    days: int | None = None,
    illness: str | None = None,
    tooth: str | None = None,
    allowed: str = "100.00",
) -> dict[str, Any]:
    """A claim line as the ledger stores it: no None fields, decimals and dates as strings."""
    found: dict[str, Any] = {
        "line_number": number,
        "from_date": day.isoformat(),
        "thru_date": (day + timedelta(days=max(days or 1, 1) - 1)).isoformat(),
        "allowed_amount": allowed,
        "network": "in",
        "applied": [{"accumulator_code": c, "amount": str(a)} for c, a in applied.items()],
    }
    for name, value in (("days", days), ("illness", illness), ("tooth", tooth)):
        if value is not None:
            found[name] = value
    return found


class Ledger:
    """One member's events in order, positions counting up from `first_position`."""

    def __init__(self, member: str = MEMBER, first_position: int = 1) -> None:
        self.member = member
        self.events: list[LedgerEvent] = []
        self._positions: Iterator[int] = count(first_position)

    def add(self, type_: str, **data: Any) -> LedgerEvent:
        position = next(self._positions)
        recorded = RECORDED + timedelta(minutes=position)
        event = LedgerEvent(position, f"e{position}", type_, data, recorded)
        self.events.append(event)
        return event

    def schedule(
        self,
        accumulators: list[dict[str, Any]] | None = None,
        period: dict[str, Any] | None = None,
        schedule_id: str = SCHEDULE,
        plan_type: str = PLAN,
        effective: date = date(2020, 1, 1),
        termination: date | None = None,
    ) -> LedgerEvent:
        data: dict[str, Any] = {
            "schedule_id": schedule_id,
            "plan_type": plan_type,
            "effective_date": effective.isoformat(),
            "benefit_period": period or CALENDAR_YEAR,
            "coinsurance_percent": "80",
            "accumulators": accumulators or EVERY_TYPE,
        }
        if termination is not None:
            data["termination_date"] = termination.isoformat()
        return self.add("accumulator.schedule_defined", **data)

    def enroll(
        self,
        schedule_id: str = SCHEDULE,
        start: date = date(2020, 1, 1),
        end: date | None = None,
        family: str | None = None,
    ) -> LedgerEvent:
        data: dict[str, Any] = {
            "member_id": self.member,
            "schedule_id": schedule_id,
            "start_date": start.isoformat(),
        }
        if end is not None:
            data["end_date"] = end.isoformat()
        if family is not None:
            data["family_id"] = family
        return self.add("member.enrolled", **data)

    def adjudicate(
        self,
        claim_id: str,
        *lines: dict[str, Any],
        status: str = "paid",
        plan_type: str = PLAN,
        release: date | None = None,
        schedule_id: str | None = None,
    ) -> LedgerEvent:
        data: dict[str, Any] = {
            "claim_id": claim_id,
            "reference_number": f"REF-{claim_id}",
            "member_id": self.member,
            "plan_type": plan_type,
            "billing_provider": "General Hospital",
            "status": status,
            "lines": list(lines),
        }
        if release is not None:
            data["release_date"] = release.isoformat()
        if schedule_id is not None:
            data["schedule_id"] = schedule_id
        return self.add("claim.adjudicated", **data)

    def status(self, claim_id: str, status: str, release: date | None = None) -> LedgerEvent:
        data: dict[str, Any] = {"claim_id": claim_id, "status": status}
        if release is not None:
            data["release_date"] = release.isoformat()
        return self.add("claim.status_changed", **data)

    def adjust(self, claim_id: str, *lines: dict[str, Any]) -> LedgerEvent:
        return self.add("claim.adjusted", claim_id=claim_id, lines=list(lines))

    def void(self, claim_id: str) -> LedgerEvent:
        return self.add("claim.voided", claim_id=claim_id, reason="billed in error")

    def facts(self) -> MemberFacts:
        return fold(self.member, self.events)


def fold(member: str, events: list[LedgerEvent]) -> MemberFacts:
    facts = MemberFacts(member)
    for event in events:
        facts.apply(event)
    return facts


def member_ledger(
    accumulators: list[dict[str, Any]] | None = None,
    period: dict[str, Any] | None = None,
    member: str = MEMBER,
    first_position: int = 1,
    family: str | None = None,
) -> Ledger:
    ledger = Ledger(member, first_position)
    ledger.schedule(accumulators, period)
    ledger.enroll(family=family)
    return ledger


def rows(facts: MemberFacts, day: date, family: dict[str, list[Claim]] | None = None) -> list[Row]:
    claims = {**(family or {}), facts.member_id: list(facts.claims.values())}
    return accumulator_rows(facts.schedules[SCHEDULE], claims, facts.member_id, day)


def applied(facts: MemberFacts, day: date) -> dict[str, Decimal]:
    """Applied amount by accumulator code (schedules without `per` rows)."""
    return {row.accumulator.code: row.applied for row in rows(facts, day)}


def row_of(found: list[Row], code: str) -> Row:
    (row,) = [row for row in found if row.accumulator.code == code]
    return row


def decimals(*values: str | int) -> list[Decimal]:
    return [Decimal(str(value)) for value in values]


# the builders write what the ledger stores: its contract's JSON normalization


def test_builders_write_data_as_the_ledger_normalizes_it() -> None:
    ledger = member_ledger([*EVERY_TYPE, FAMILY_DEDUCTIBLE], PLAN_YEAR, family=FAMILY)
    ledger.adjudicate(
        "c1",
        line(DAY, applies(DED="12.50", SNF=3), days=3, illness="J18"),
        {**line(DAY, applies(BEN="80.25"), number=2, tooth="14"), "patient_responsibility": "3.10"},
        release=DAY,
        schedule_id=SCHEDULE,
    )
    ledger.status("c1", "released", release=DAY)
    ledger.adjust("c1", line(DAY, applies(DED="10.00")))
    ledger.void("c1")
    for event in ledger.events:
        model = EVENT_TYPES[event.type]
        normalized = model.model_validate(event.data).model_dump(mode="json", exclude_none=True)
        assert normalized == event.data, event.type


# 4.2: applied per benefit period, across the reset, for every accumulator type

RESETS = [
    pytest.param(CALENDAR_YEAR, date(2027, 1, 1), id="calendar_year"),
    pytest.param(PLAN_YEAR, date(2026, 7, 1), id="plan_year"),
]
# what the claims apply: the paid and the released one before the reset, the one on it, and one
# on the last day of the period before (which no period around the reset counts)
BEFORE_PAID = {"DED": "120.50", "OOP": "150.00", "BEN": "400.00", "SNF": 3, "REV": 3}
BEFORE_RELEASED = {"DED": "30.25", "OOP": "45.75", "BEN": "99.99", "SNF": 2, "REV": 2}
ON_RESET = {"DED": "200.00", "OOP": "250.00", "BEN": "800.00", "SNF": 4, "REV": 4}
EARLIER = {"DED": "7.00", "OOP": "8.00", "BEN": "9.00", "SNF": 1, "REV": 1}


def across_reset(period: dict[str, Any], reset: date) -> MemberFacts:
    ledger = member_ledger(EVERY_TYPE, period)
    period_before = reset.replace(year=reset.year - 1)
    ledger.adjudicate("earlier", line(period_before - timedelta(days=1), applies(**EARLIER)))
    ledger.adjudicate("before", line(reset - timedelta(days=1), applies(**BEFORE_PAID)))
    ledger.adjudicate(
        "released",
        line(period_before, applies(**BEFORE_RELEASED)),
        status="released",
        release=period_before,
    )
    ledger.adjudicate("on", line(reset, applies(**ON_RESET)))
    return ledger.facts()


@pytest.mark.parametrize("period, reset", RESETS)
@pytest.mark.parametrize("code", ["DED", "OOP", "BEN", "SNF", "REV"])
def test_applied_sums_the_period_of_the_effective_date(
    period: dict[str, Any], reset: date, code: str
) -> None:
    facts = across_reset(period, reset)
    before = Decimal(str(BEFORE_PAID[code])) + Decimal(str(BEFORE_RELEASED[code]))
    period_before = reset.replace(year=reset.year - 1)

    # the day before the reset: the period's paid and released claims, whatever their day in it
    assert applied(facts, reset - timedelta(days=1))[code] == before
    assert applied(facts, period_before)[code] == before
    assert applied(facts, period_before - timedelta(days=1))[code] == Decimal(str(EARLIER[code]))
    # the day of the reset: only the new period's claim
    assert applied(facts, reset)[code] == Decimal(str(ON_RESET[code]))
    assert applied(facts, reset.replace(year=reset.year + 1) - timedelta(days=1))[code] == (
        Decimal(str(ON_RESET[code]))
    )
    # a later period: nothing yet
    assert applied(facts, reset.replace(year=reset.year + 1))[code] == 0
    assert applied(facts, reset.replace(year=reset.year + 3) + timedelta(days=40))[code] == 0


@pytest.mark.parametrize("period, reset", RESETS)
def test_rows_carry_the_period_of_the_effective_date(period: dict[str, Any], reset: date) -> None:
    facts = across_reset(period, reset)
    period_before = reset.replace(year=reset.year - 1)
    for row in rows(facts, reset - timedelta(days=1)):
        assert (row.period_start, row.period_end) == (period_before, reset - timedelta(days=1))
    for row in rows(facts, reset):
        assert (row.period_start, row.period_end) == (
            reset,
            reset.replace(year=reset.year + 1) - timedelta(days=1),
        )


def test_a_lifetime_schedule_counts_every_claim() -> None:
    ledger = member_ledger([BENEFIT], LIFETIME)
    ledger.adjudicate("c1", line(date(2021, 5, 1), applies(BEN="1000")))
    ledger.adjudicate("c2", line(date(2026, 5, 1), applies(BEN="2500.50")))
    (row,) = rows(ledger.facts(), date(2030, 1, 1))
    assert (row.period_start, row.period_end) == (None, None)
    assert (row.applied, row.remaining) == (Decimal("3500.50"), Decimal("6499.50"))


def test_each_line_counts_in_the_period_of_its_own_from_date() -> None:
    ledger = member_ledger([DEDUCTIBLE])
    ledger.adjudicate(
        "c1",
        line(date(2026, 12, 31), applies(DED="100")),
        line(date(2027, 1, 1), applies(DED="40"), number=2),
    )
    facts = ledger.facts()
    assert applied(facts, date(2026, 6, 1)) == {"DED": Decimal("100")}
    assert applied(facts, date(2027, 6, 1)) == {"DED": Decimal("40")}


def test_claims_of_another_plan_type_do_not_count() -> None:
    ledger = member_ledger([DEDUCTIBLE])
    ledger.adjudicate("c1", line(DAY, applies(DED="100")))
    ledger.adjudicate("c2", line(DAY, applies(DED="60")), plan_type="dental")
    assert applied(ledger.facts(), DAY) == {"DED": Decimal("100")}


# 4.1-4.2: statuses, adjustments, voids


@pytest.mark.parametrize("status", ["pending", "processed", "denied"])
def test_claims_neither_paid_nor_released_do_not_count(status: str) -> None:
    ledger = member_ledger([DEDUCTIBLE])
    ledger.adjudicate("c1", line(DAY, applies(DED="100")), status=status)
    (row,) = rows(ledger.facts(), DAY)
    assert (row.applied, row.remaining, row.contributions) == (0, Decimal("500"), ())


@pytest.mark.parametrize("status", ["paid", "released"])
def test_paid_and_released_claims_count(status: str) -> None:
    ledger = member_ledger([DEDUCTIBLE])
    ledger.adjudicate("c1", line(DAY, applies(DED="100")), status=status)
    (row,) = rows(ledger.facts(), DAY)
    assert (row.applied, row.remaining) == (Decimal("100"), Decimal("400"))
    assert [c.claim.claim_id for c in row.contributions] == ["c1"]


def test_a_status_change_makes_a_claim_count_or_stop_counting() -> None:
    ledger = member_ledger([DEDUCTIBLE])
    ledger.adjudicate("c1", line(DAY, applies(DED="100")), status="pending")
    ledger.adjudicate("c2", line(DAY, applies(DED="50")), status="processed")
    assert applied(ledger.facts(), DAY) == {"DED": 0}

    ledger.status("c1", "released", release=date(2026, 3, 20))
    facts = ledger.facts()
    assert applied(facts, DAY) == {"DED": Decimal("100")}
    assert facts.claims["c1"].release_date == date(2026, 3, 20)

    ledger.status("c2", "paid")
    assert applied(ledger.facts(), DAY) == {"DED": Decimal("150")}

    ledger.status("c1", "denied")  # the latest status wins
    assert applied(ledger.facts(), DAY) == {"DED": Decimal("50")}


def test_a_void_reverses_the_claim() -> None:
    ledger = member_ledger([DEDUCTIBLE, OUT_OF_POCKET])
    ledger.adjudicate("c1", line(DAY, applies(DED="100", OOP="100")))
    ledger.adjudicate("c2", line(DAY, applies(DED="80", OOP="120")))
    assert applied(ledger.facts(), DAY) == {"DED": Decimal("180"), "OOP": Decimal("220")}

    ledger.void("c1")
    facts = ledger.facts()
    assert applied(facts, DAY) == {"DED": Decimal("80"), "OOP": Decimal("120")}
    assert facts.claims["c1"].voided
    assert facts.claims["c1"].events == ["e3", "e5"]


def test_a_voided_claim_stays_void_whatever_its_status() -> None:
    ledger = member_ledger([DEDUCTIBLE])
    ledger.adjudicate("c1", line(DAY, applies(DED="100")), status="pending")
    ledger.void("c1")
    ledger.status("c1", "paid")
    assert applied(ledger.facts(), DAY) == {"DED": 0}


def test_an_adjustment_replaces_the_lines() -> None:
    ledger = member_ledger([DEDUCTIBLE, OUT_OF_POCKET])
    ledger.adjudicate(
        "c1",
        line(DAY, applies(DED="100", OOP="100")),
        line(DAY, applies(DED="50"), number=2),
    )
    assert applied(ledger.facts(), DAY) == {"DED": Decimal("150"), "OOP": Decimal("100")}

    ledger.adjust("c1", line(DAY, applies(OOP="30")))
    assert applied(ledger.facts(), DAY) == {"DED": 0, "OOP": Decimal("30")}

    # the latest version counts, in the period of its own lines
    ledger.adjust("c1", line(date(2027, 2, 1), applies(DED="70", OOP="70")))
    facts = ledger.facts()
    assert applied(facts, DAY) == {"DED": 0, "OOP": 0}
    assert applied(facts, date(2027, 2, 1)) == {"DED": Decimal("70"), "OOP": Decimal("70")}


def test_an_adjustment_of_a_pending_claim_counts_once_it_is_paid() -> None:
    ledger = member_ledger([DEDUCTIBLE])
    ledger.adjudicate("c1", line(DAY, applies(DED="100")), status="pending")
    ledger.adjust("c1", line(DAY, applies(DED="125")))
    assert applied(ledger.facts(), DAY) == {"DED": 0}
    ledger.status("c1", "paid")
    assert applied(ledger.facts(), DAY) == {"DED": Decimal("125")}


# 4.1: family accumulators sum every member of the family


def family_facts() -> dict[str, MemberFacts]:
    found = {}
    for number, member, amounts in (
        (1, "m1", ("100", "10")),
        (2, "m2", ("200", "20")),
        (3, "m3", ("300", "30")),
    ):
        ledger = member_ledger(
            [DEDUCTIBLE, FAMILY_DEDUCTIBLE],
            member=member,
            first_position=100 * number,
            family=FAMILY,
        )
        ledger.adjudicate(f"{member}-c1", line(DAY, applies(DED=amounts[0], FDED=amounts[0])))
        ledger.adjudicate(f"{member}-c2", line(DAY, applies(DED=amounts[1], FDED=amounts[1])))
        ledger.adjudicate(
            f"{member}-c3", line(DAY, applies(DED="999", FDED="999")), status="denied"
        )
        found[member] = ledger.facts()
    return found


def test_family_members_are_enrolled_in_the_family() -> None:
    for member, facts in family_facts().items():
        (enrollment,) = facts.enrollments
        assert (enrollment.member_id, enrollment.family_id) == (member, FAMILY)


@pytest.mark.parametrize("member, individual", [("m1", "110"), ("m2", "220"), ("m3", "330")])
def test_a_family_deductible_sums_the_family_an_individual_one_the_member(
    member: str, individual: str
) -> None:
    facts = family_facts()
    claims = {m: list(f.claims.values()) for m, f in facts.items()}
    schedule = facts["m1"].schedules[SCHEDULE]

    found = accumulator_rows(schedule, claims, member, DAY)

    assert row_of(found, "DED").applied == Decimal(individual)
    assert row_of(found, "DED").remaining == 500 - Decimal(individual)
    family = row_of(found, "FDED")
    assert (family.applied, family.remaining) == (Decimal("660"), Decimal("340"))
    assert {c.member_id for c in family.contributions} == {"m1", "m2", "m3"}
    assert {c.member_id for c in row_of(found, "DED").contributions} == {member}


def test_a_family_row_counts_claims_in_the_order_they_were_applied() -> None:
    facts = family_facts()
    claims = {m: list(f.claims.values()) for m, f in facts.items()}
    family = row_of(accumulator_rows(facts["m1"].schedules[SCHEDULE], claims, "m2", DAY), "FDED")
    assert [c.claim.claim_id for c in family.contributions] == [
        "m1-c1",
        "m1-c2",
        "m2-c1",
        "m2-c2",
        "m3-c1",
        "m3-c2",
    ]


# 4.1: per illness and per tooth rows

PER_ILLNESS = accumulator("ILL", "maximum", 1000, kind="benefit", per="illness")
PER_TOOTH = accumulator("TTH", "maximum", 500, kind="benefit", per="tooth")


def test_per_illness_and_per_tooth_rows_each_have_their_own_applied() -> None:
    ledger = member_ledger([DEDUCTIBLE, PER_ILLNESS, PER_TOOTH])
    ledger.adjudicate(
        "c1",
        line(DAY, applies(ILL="100", DED="10"), illness="J18"),
        line(DAY, applies(ILL="50"), number=2, illness="A09"),
        line(DAY, applies(TTH="200"), number=3, tooth="3"),
    )
    ledger.adjudicate(
        "c2",
        line(DAY, applies(ILL="25"), illness="J18"),
        line(DAY, applies(TTH="100"), number=2, tooth="14"),
        line(DAY, applies(TTH="450"), number=3, tooth="3"),
    )
    ledger.adjudicate("c3", line(DAY, applies(ILL="999"), illness="K35"), status="pending")

    found = rows(ledger.facts(), DAY)

    assert [(r.accumulator.code, r.illness, r.tooth) for r in found] == [
        ("DED", None, None),
        ("ILL", "A09", None),
        ("ILL", "J18", None),
        ("TTH", None, "14"),
        ("TTH", None, "3"),
    ]
    assert [r.applied for r in found] == decimals(10, 50, 125, 100, 650)
    # each against the same schedule amount
    assert [r.remaining for r in found] == decimals(490, 950, 875, 400, 0)
    assert [r.met for r in found] == [False, False, False, False, True]


def test_per_rows_without_claims_are_one_row_of_none() -> None:
    ledger = member_ledger([PER_ILLNESS, PER_TOOTH])
    ledger.adjudicate("c1", line(DAY, applies(ILL="100"), illness="J18"))
    found = rows(ledger.facts(), date(2027, 3, 1))  # the claim is in another period
    assert [(r.accumulator.code, r.illness, r.tooth, r.applied) for r in found] == [
        ("ILL", None, None, 0),
        ("TTH", None, None, 0),
    ]
    assert [r.remaining for r in found] == decimals(1000, 500)


# 4.2: remaining never below 0; met at and beyond the amount

LIMITED = [
    accumulator("DED", "deductible", 500),
    accumulator("OOP", "maximum", 500, kind="out_of_pocket"),
    accumulator("BEN", "maximum", 500, kind="benefit"),
    accumulator("SNF", "day", 500),
]


@pytest.mark.parametrize("code", ["DED", "OOP", "BEN", "SNF"])
@pytest.mark.parametrize(
    "amount, remaining, met",
    [
        ("0", "500", False),
        ("499.99", "0.01", False),
        ("500", "0", True),
        ("500.01", "0", True),
        ("1250", "0", True),
    ],
)
def test_remaining_never_below_zero_and_met_from_the_amount(
    code: str, amount: str, remaining: str, met: bool
) -> None:
    ledger = member_ledger(LIMITED)
    ledger.adjudicate("c1", line(DAY, {code: amount}))
    row = row_of(rows(ledger.facts(), DAY), code)
    assert (row.applied, row.remaining, row.met) == (Decimal(amount), Decimal(remaining), met)


@pytest.mark.parametrize("days", [0, 3, 40])
def test_reversion_and_cob_rows_are_never_met(days: int) -> None:
    cob = accumulator("COB", "cob", 0)
    ledger = member_ledger([REVERSION, cob])
    ledger.adjudicate("c1", line(DAY, applies(REV=days, COB=days), days=max(days, 1)))
    for row in rows(ledger.facts(), DAY):
        assert row.applied == days
        assert row.remaining == 0
        assert not row.met


# 4.5: the days of a day accumulator, numbered in the period, with their reversion level


def test_days_are_numbered_in_the_period_with_their_reversion_level() -> None:
    ledger = member_ledger([SNF_DAYS, REVERSION, DEDUCTIBLE])
    ledger.adjudicate("c0", line(date(2025, 12, 30), applies(SNF=2, REV=2), days=2))
    ledger.adjudicate("c1", line(date(2026, 3, 2), applies(SNF=3, REV=3), days=3))
    ledger.adjudicate("c2", line(date(2026, 4, 10), applies(SNF=4, REV=4), days=4))
    ledger.adjudicate("c3", line(date(2026, 5, 1), applies(SNF=5, REV=5), days=5), status="pending")
    found = rows(ledger.facts(), DAY)

    for code in ("SNF", "REV"):
        days = row_of(found, code).days()
        assert [d.day_number for d in days] == [1, 2, 3, 4, 5, 6, 7]
        assert [d.day for d in days] == [
            date(2026, 3, 2),
            date(2026, 3, 3),
            date(2026, 3, 4),
            date(2026, 4, 10),
            date(2026, 4, 11),
            date(2026, 4, 12),
            date(2026, 4, 13),
        ]
        assert [d.reversion_level for d in days] == ["1-4"] * 4 + ["5+"] * 3
        assert [d.coinsurance_percent for d in days] == decimals(70, 70, 70, 70, 50, 50, 50)
    assert row_of(found, "SNF").applied == 7
    assert row_of(found, "SNF").remaining == 93
    assert row_of(found, "DED").days() == []


def test_days_without_a_reversion_carry_no_level() -> None:
    ledger = member_ledger([SNF_DAYS])
    ledger.adjudicate("c1", line(DAY, applies(SNF=2), days=2))
    days = row_of(rows(ledger.facts(), DAY), "SNF").days()
    assert [(d.day, d.day_number, d.reversion_level, d.coinsurance_percent) for d in days] == [
        (DAY, 1, None, None),
        (DAY + timedelta(days=1), 2, None, None),
    ]


def test_level_labels() -> None:
    assert level_label(Level(1, 4, Decimal("70"))) == "1-4"
    assert level_label(Level(5, 5, Decimal("60"))) == "5-5"
    assert level_label(Level(11, None, Decimal("0"))) == "11+"


# 4.1: the enrollments in force on a day

ENROLLMENT_SCHEDULES = {
    "MED": Schedule.from_json(
        {
            "schedule_id": "MED",
            "plan_type": "medical",
            "effective_date": "2026-01-01",
            "termination_date": "2026-12-31",
            "benefit_period": CALENDAR_YEAR,
            "coinsurance_percent": "80",
            "accumulators": [DEDUCTIBLE],
        }
    ),
    "DEN": Schedule.from_json(
        {
            "schedule_id": "DEN",
            "plan_type": "dental",
            "effective_date": "2026-03-01",
            "benefit_period": CALENDAR_YEAR,
            "coinsurance_percent": "50",
            "accumulators": [DEDUCTIBLE],
        }
    ),
    "MED2": Schedule.from_json(
        {
            "schedule_id": "MED2",
            "plan_type": "medical",
            "effective_date": "2026-01-01",
            "benefit_period": PLAN_YEAR,
            "coinsurance_percent": "70",
            "accumulators": [DEDUCTIBLE],
        }
    ),
}
# recorded in another order than listed; one of a schedule never defined
ENROLLMENTS = [
    Enrollment(MEMBER, "MED2", date(2026, 1, 1), None, None, 9),
    Enrollment(MEMBER, "MED", date(2026, 2, 1), date(2026, 6, 30), None, 3),
    Enrollment(MEMBER, "DEN", date(2026, 1, 1), None, None, 5),
    Enrollment(MEMBER, "MED", date(2026, 7, 1), None, None, 7),
    Enrollment(MEMBER, "NONE", date(2020, 1, 1), None, None, 1),
]


@pytest.mark.parametrize(
    "day, plan_type, positions",
    [
        (date(2025, 12, 31), None, []),  # before every schedule
        (date(2026, 1, 31), None, [9]),  # MED's enrollment not started, DEN not effective
        (date(2026, 2, 1), None, [3, 9]),
        (date(2026, 2, 28), None, [3, 9]),
        (date(2026, 3, 1), None, [3, 5, 9]),
        (date(2026, 6, 30), None, [3, 5, 9]),
        (date(2026, 7, 1), None, [5, 7, 9]),  # the first MED enrollment ended
        (date(2026, 12, 31), None, [5, 7, 9]),
        (date(2027, 1, 1), None, [5, 9]),  # MED terminated
        (date(2026, 3, 1), "medical", [3, 9]),
        (date(2026, 3, 1), "dental", [5]),
        (date(2026, 3, 1), "vision", []),
        (date(2027, 1, 1), "medical", [9]),
    ],
)
def test_enrollment_on(day: date, plan_type: str | None, positions: list[int]) -> None:
    found = enrollment_on(ENROLLMENTS, ENROLLMENT_SCHEDULES, day, plan_type)
    assert [enrollment.position for enrollment, _ in found] == positions
    for enrollment, schedule in found:
        assert schedule is ENROLLMENT_SCHEDULES[enrollment.schedule_id]


def test_enrollment_on_from_folded_events() -> None:
    ledger = Ledger()
    ledger.schedule([DEDUCTIBLE], schedule_id="MED", effective=date(2026, 1, 1))
    ledger.schedule(
        [DEDUCTIBLE],
        schedule_id="MED",
        effective=date(2026, 1, 1),
        termination=date(2026, 9, 30),
    )  # a redefinition replaces the schedule
    ledger.enroll("MED", start=date(2026, 2, 1), end=date(2026, 12, 31), family=FAMILY)
    facts = ledger.facts()
    assert enrollment_on(facts.enrollments, facts.schedules, date(2026, 1, 31)) == []
    ((enrollment, schedule),) = enrollment_on(facts.enrollments, facts.schedules, date(2026, 9, 30))
    assert (enrollment.start_date, enrollment.end_date, enrollment.family_id) == (
        date(2026, 2, 1),
        date(2026, 12, 31),
        FAMILY,
    )
    assert (schedule.schedule_id, schedule.termination_date) == ("MED", date(2026, 9, 30))
    assert enrollment_on(facts.enrollments, facts.schedules, date(2026, 10, 1)) == []


# derived events: accumulator.changed and accumulator.met


def step(facts: MemberFacts, event: LedgerEvent) -> tuple[list[tuple[str, dict]], list]:
    """Fold one claim event in, as the ledger does, and judge what it changed."""
    schedule_ids = claim_schedules(facts, event)
    days = claim_dates(facts, event)
    before = rows_on(facts, schedule_ids, days, {})
    facts.apply(event)
    return changes(facts.member_id, before, rows_on(facts, schedule_ids, days, {}), event)


def test_a_paid_claim_changes_the_rows_it_applies_to() -> None:
    ledger = member_ledger([DEDUCTIBLE, OUT_OF_POCKET, SNF_DAYS])
    facts = ledger.facts()

    changed, met = step(facts, ledger.adjudicate("c1", line(DAY, applies(DED="200", OOP="150"))))

    assert [kind for kind, _ in changed] == [ACCUMULATOR_CHANGED] * 2
    assert [(d["code"], d["previous"], d["current"]) for _, d in changed] == [
        (
            "DED",
            {"applied": "0.00", "remaining": "500.00"},
            {"applied": "200.00", "remaining": "300.00"},
        ),
        (
            "OOP",
            {"applied": "0.00", "remaining": "3000.00"},
            {"applied": "150.00", "remaining": "2850.00"},
        ),
    ]
    first = changed[0][1]
    assert first["member_id"] == MEMBER
    assert (first["schedule_id"], first["plan_type"], first["type"]) == (
        SCHEDULE,
        PLAN,
        "deductible",
    )
    assert first["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    assert (first["claim_id"], first["cause_event_id"], first["position"]) == ("c1", "e3", 3)
    assert met == []


def test_reaching_a_deductible_makes_one_met_candidate() -> None:
    ledger = member_ledger([DEDUCTIBLE, OUT_OF_POCKET])
    facts = ledger.facts()
    step(facts, ledger.adjudicate("c1", line(DAY, applies(DED="200", OOP="200"))))

    changed, met = step(facts, ledger.adjudicate("c2", line(DAY, applies(DED="300", OOP="300"))))

    assert [(d["code"], d["previous"], d["current"]) for _, d in changed] == [
        (
            "DED",
            {"applied": "200.00", "remaining": "300.00"},
            {"applied": "500.00", "remaining": "0.00"},
        ),
        (
            "OOP",
            {"applied": "200.00", "remaining": "2800.00"},
            {"applied": "500.00", "remaining": "2500.00"},
        ),
    ]
    (alert,) = met
    assert alert.type == ACCUMULATOR_MET
    assert alert.mark == ("accumulator_met", f"{MEMBER}|{SCHEDULE}|DED||", "2026-01-01")
    assert (alert.data["code"], alert.data["schedule_amount"], alert.data["applied"]) == (
        "DED",
        "500.00",
        "500.00",
    )
    assert alert.data["cause_event_id"] == "e4"

    # beyond it: a change, but no second candidate
    changed, met = step(facts, ledger.adjudicate("c3", line(DAY, applies(DED="20"))))
    assert [(d["code"], d["current"]) for _, d in changed] == [
        ("DED", {"applied": "520.00", "remaining": "0.00"})
    ]
    assert met == []


def test_an_event_that_moves_no_row_changes_nothing() -> None:
    ledger = member_ledger([DEDUCTIBLE, OUT_OF_POCKET])
    facts = ledger.facts()
    step(facts, ledger.adjudicate("c1", line(DAY, applies(DED="100"))))

    assert step(facts, ledger.adjudicate("c2", line(DAY, applies(DED="50")), status="pending")) == (
        [],
        [],
    )
    assert step(facts, ledger.status("c1", "released")) == ([], [])
    assert step(facts, ledger.adjust("c2", line(DAY, applies(DED="60")))) == ([], [])
    assert step(facts, ledger.void("c2")) == ([], [])


def test_a_void_changes_the_rows_back() -> None:
    ledger = member_ledger([DEDUCTIBLE])
    facts = ledger.facts()
    step(facts, ledger.adjudicate("c1", line(DAY, applies(DED="500"))))

    changed, met = step(facts, ledger.void("c1"))

    assert [(d["code"], d["previous"], d["current"]) for _, d in changed] == [
        (
            "DED",
            {"applied": "500.00", "remaining": "0.00"},
            {"applied": "0.00", "remaining": "500.00"},
        ),
    ]
    assert met == []


def test_a_void_changes_a_per_illness_row_back() -> None:
    ledger = member_ledger([PER_ILLNESS])
    facts = ledger.facts()
    step(facts, ledger.adjudicate("c1", line(DAY, applies(ILL="100"), illness="J18")))

    changed, _ = step(facts, ledger.void("c1"))

    assert [(d["illness"], d["previous"], d["current"]) for _, d in changed] == [
        (
            "J18",
            {"applied": "100.00", "remaining": "900.00"},
            {"applied": "0.00", "remaining": "1000.00"},
        ),
    ]


# property: incremental fold = fresh fold = an independent oracle

CODES = ("DED", "OOP", "BEN")
PROPERTY_ACCUMULATORS = [DEDUCTIBLE, OUT_OF_POCKET, BENEFIT]
SERVICE_DAYS = [
    date(2025, 12, 31),
    date(2026, 1, 1),
    date(2026, 6, 30),
    date(2026, 7, 1),
    date(2026, 12, 31),
    date(2027, 1, 1),
    date(2027, 6, 30),
    date(2027, 7, 1),
]
EFFECTIVE_DAYS = [date(2026, 3, 15), date(2026, 9, 1), date(2027, 3, 15)]
STATUSES = ["pending", "processed", "paid", "released", "denied"]

cents = st.integers(min_value=0, max_value=250_000).map(lambda c: Decimal(c).scaleb(-2))
lines_of = st.lists(
    st.tuples(
        st.sampled_from(SERVICE_DAYS),
        st.dictionaries(st.sampled_from(CODES), cents, min_size=0, max_size=3),
    ),
    min_size=1,
    max_size=3,
)
steps_of = st.lists(
    st.one_of(
        st.tuples(
            st.just("adjudicate"),
            st.sampled_from(STATUSES),
            st.sampled_from([PLAN, "dental"]),
            lines_of,
        ),
        st.tuples(st.just("status"), st.integers(0, 20), st.sampled_from(STATUSES)),
        st.tuples(st.just("adjust"), st.integers(0, 20), lines_of),
        st.tuples(st.just("void"), st.integers(0, 20)),
    ),
    min_size=1,
    max_size=16,
)


def claim_lines(spec: list[tuple[date, dict[str, Decimal]]]) -> list[dict[str, Any]]:
    return [line(day, dict(amounts), number=n) for n, (day, amounts) in enumerate(spec, start=1)]


def claim_events(ledger: Ledger, steps: list[tuple]) -> list[LedgerEvent]:
    """The steps as valid events: changes only of claims adjudicated and not voided."""
    open_claims: list[str] = []
    events = []
    for kind, *rest in steps:
        if kind == "adjudicate":
            status, plan_type, spec = rest
            claim_id = f"c{len(ledger.events)}"
            open_claims.append(claim_id)
            events.append(
                ledger.adjudicate(claim_id, *claim_lines(spec), status=status, plan_type=plan_type)
            )
            continue
        if not open_claims:
            continue
        claim_id = open_claims[rest[0] % len(open_claims)]
        if kind == "status":
            events.append(ledger.status(claim_id, rest[1]))
        elif kind == "adjust":
            events.append(ledger.adjust(claim_id, *claim_lines(rest[1])))
        else:
            open_claims.remove(claim_id)
            events.append(ledger.void(claim_id))
    return events


def period_holding(period: dict[str, Any], day: date) -> tuple[date, date]:
    start = date(day.year, 1, 1) if period["type"] == "calendar_year" else date(day.year, 7, 1)
    if day < start:
        start = start.replace(year=start.year - 1)
    return start, start.replace(year=start.year + 1) - timedelta(days=1)


def oracle(period: dict[str, Any], events: list[LedgerEvent], day: date) -> dict[str, Decimal]:
    """Applied by code, straight from the raw events: each claim's latest lines and status."""
    claims: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.data
        if event.type == "claim.adjudicated":
            claims[data["claim_id"]] = {**data, "voided": False}
        elif event.type == "claim.status_changed":
            claims[data["claim_id"]]["status"] = data["status"]
        elif event.type == "claim.adjusted":
            claims[data["claim_id"]]["lines"] = data["lines"]
        elif event.type == "claim.voided":
            claims[data["claim_id"]]["voided"] = True
    start, end = period_holding(period, day)
    totals = dict.fromkeys(CODES, Decimal(0))
    for claim in claims.values():
        if claim["voided"] or claim["status"] not in ("paid", "released"):
            continue
        if claim["plan_type"] != PLAN:
            continue
        for claim_line in claim["lines"]:
            if start <= date.fromisoformat(claim_line["from_date"]) <= end:
                for applied_to in claim_line["applied"]:
                    totals[applied_to["accumulator_code"]] += Decimal(applied_to["amount"])
    return totals


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(period=st.sampled_from([CALENDAR_YEAR, PLAN_YEAR]), steps=steps_of)
def test_applied_is_the_same_folded_one_at_a_time_from_scratch_and_by_the_oracle(
    period: dict[str, Any], steps: list[tuple]
) -> None:
    ledger = member_ledger(PROPERTY_ACCUMULATORS, period)
    ledger.schedule(PROPERTY_ACCUMULATORS, period, schedule_id="S2", plan_type="dental")
    ledger.enroll("S2")
    setup = list(ledger.events)
    events = claim_events(ledger, steps)

    facts = fold(MEMBER, setup)
    for number, event in enumerate(events, start=1):
        facts = facts.copy()  # as a projection restored from its snapshot
        facts.apply(event)
        for day in EFFECTIVE_DAYS:
            assert applied(facts, day) == oracle(period, events[:number], day)

    fresh = fold(MEMBER, ledger.events)
    for day in EFFECTIVE_DAYS:
        expected = oracle(period, events, day)
        assert applied(facts, day) == expected
        assert applied(fresh, day) == expected


def test_days_are_numbered_in_calendar_order_whatever_the_order_of_adjudication() -> None:
    schedule = Schedule.from_json(
        {
            "schedule_id": "S",
            "plan_type": "medical",
            "effective_date": "2026-01-01",
            "benefit_period": {"type": "calendar_year"},
            "coinsurance_percent": "80",
            "accumulators": [
                {"code": "SNF", "type": "day", "amount": "100"},
                {
                    "code": "REV",
                    "type": "reversion",
                    "levels": [
                        {"from_day": 1, "to_day": 2, "coinsurance_percent": "70"},
                        {"from_day": 3, "coinsurance_percent": "50"},
                    ],
                },
            ],
        }
    )

    def stay(claim_id: str, position: int, start: str, days: int) -> Claim:
        first = date.fromisoformat(start)
        return Claim(
            claim_id=claim_id,
            reference_number=claim_id,
            member_id="m",
            plan_type="medical",
            schedule_id="S",
            billing_provider="P",
            status="paid",
            release_date=None,
            lines=(
                ClaimLine(
                    1,
                    first,
                    first + timedelta(days=days - 1),
                    Decimal("100.00"),
                    "in",
                    days,
                    None,
                    None,
                    {"SNF": Decimal(days)},
                ),
            ),
            position=position,
        )

    late_for_march = stay("late", 2, "2026-03-01", 2)  # adjudicated after the April stay
    april = stay("april", 1, "2026-04-01", 2)
    (row,) = [
        r
        for r in accumulator_rows(schedule, {"m": [april, late_for_march]}, "m", date(2026, 6, 1))
        if r.accumulator.code == "SNF"
    ]
    assert [(d.day.isoformat(), d.day_number, d.coinsurance_percent) for d in row.days()] == [
        ("2026-03-01", 1, Decimal("70")),
        ("2026-03-02", 2, Decimal("70")),
        ("2026-04-01", 3, Decimal("50")),
        ("2026-04-02", 4, Decimal("50")),
    ]
