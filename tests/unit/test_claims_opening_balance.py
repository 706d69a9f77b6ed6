"""accumulation.md 2.17, claims side: `accumulator.opening_balance` states what another system
had applied to an accumulator as of a date. applied = that figure + the claims with lines after
`as_of` in the period; lines on or before it are in the figure and not counted again.

Worked example (deductible 500, calendar year, opening 350 as of 2026-03-31):

| claim line | from | applied | counted |
| --- | --- | --- | --- |
| opening balance | 2026-03-31 | 350 | yes |
| c1 | 2026-03-15 | 100 | no (in the figure) |
| c2 | 2026-03-31 | 20 | no (on the date: in the figure) |
| c3 | 2026-04-10 | 50 | yes |
| applied as of 2026-06-30 | | 400 | remaining 100 |
| applied as of 2027-01-05 | | 0 | the next year |
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from services.projections.core.claim_events import ACCUMULATOR_CHANGED, changes, rows_on
from services.projections.core.claims import Claim
from tests.unit.test_claims import (
    DEDUCTIBLE,
    FAMILY_DEDUCTIBLE,
    REVERSION,
    SCHEDULE,
    SNF_DAYS,
    Ledger,
    accumulator,
    applies,
    line,
    member_ledger,
    row_of,
    rows,
)

MARCH_31 = date(2026, 3, 31)


def opening(ledger: Ledger, code: str, applied: str, as_of: date = MARCH_31, **extra: Any):
    data = {
        "member_id": ledger.member,
        "schedule_id": SCHEDULE,
        "accumulator_code": code,
        "as_of": as_of.isoformat(),
        "applied": applied,
        "source": "old claims system",
        **extra,
    }
    return ledger.add("accumulator.opening_balance", **data)


def worked_example() -> Ledger:
    ledger = member_ledger([DEDUCTIBLE])
    ledger.adjudicate("c1", line(date(2026, 3, 15), applies(DED=100)))
    ledger.adjudicate("c2", line(MARCH_31, applies(DED=20)))
    opening(ledger, "DED", "350")
    ledger.adjudicate("c3", line(date(2026, 4, 10), applies(DED=50)))
    return ledger


def test_applied_is_the_figure_plus_the_lines_after_its_date():
    row = row_of(rows(worked_example().facts(), date(2026, 6, 30)), "DED")
    assert (row.applied, row.remaining) == (Decimal(400), Decimal(100))
    assert [(c.claim.claim_id, c.amount) for c in row.contributions] == [
        ("e5", Decimal(350)),  # the opening balance first: it stands for what came before
        ("c3", Decimal(50)),
    ]
    assert row.contributions[0].claim.status == "opening_balance"


def test_the_figure_counts_only_in_its_period():
    facts = worked_example().facts()
    assert row_of(rows(facts, date(2027, 1, 5)), "DED").applied == 0
    assert row_of(rows(facts, date(2025, 12, 31)), "DED").applied == 0


def test_a_later_opening_balance_replaces_the_earlier_one():
    ledger = worked_example()
    opening(ledger, "DED", "420", as_of=date(2026, 4, 30))  # includes c3 (04-10)
    ledger.adjudicate("c4", line(date(2026, 5, 2), applies(DED=30)))
    row = row_of(rows(ledger.facts(), date(2026, 6, 30)), "DED")
    assert row.applied == Decimal(450)


def test_a_per_illness_opening_balance_moves_its_illness_row_only():
    per_illness = accumulator("MAX", "maximum", 1000, kind="benefit", per="illness")
    ledger = member_ledger([per_illness])
    ledger.adjudicate("c1", line(date(2026, 3, 1), applies(MAX=100), illness="J18"))
    ledger.adjudicate("c2", line(date(2026, 3, 1), applies(MAX=70), illness="A09"))
    opening(ledger, "MAX", "300", illness="J18")
    found = {row.illness: row.applied for row in rows(ledger.facts(), date(2026, 6, 30))}
    assert found == {"A09": Decimal(70), "J18": Decimal(300)}


def test_opening_days_are_numbered_before_the_own_days():
    """10 days used elsewhere by 03-31; a 3-day stay from 04-02 takes days 11 to 13."""
    ledger = member_ledger([SNF_DAYS, REVERSION])
    opening(ledger, "SNF", "10")
    ledger.adjudicate("c1", line(date(2026, 4, 2), applies(SNF=3, REV=3), days=3))
    opening(ledger, "REV", "10")
    found = rows(ledger.facts(), date(2026, 6, 30))
    assert row_of(found, "SNF").applied == Decimal(13)
    days = row_of(found, "REV").days()
    assert [(d.day, d.day_number, d.reversion_level) for d in days] == [
        (date(2026, 4, 2), 11, "5+"),
        (date(2026, 4, 3), 12, "5+"),
        (date(2026, 4, 4), 13, "5+"),
    ]


def test_a_family_opening_balance_counts_for_every_member_of_the_family():
    """Carried by one member (the ledger picks the family's first member), summed by all."""
    first = member_ledger([FAMILY_DEDUCTIBLE], member="a", family="F")
    data = {
        "family_id": "F",
        "schedule_id": SCHEDULE,
        "accumulator_code": "FDED",
        "as_of": MARCH_31.isoformat(),
        "applied": "600",
        "source": "old claims system",
    }
    first.add("accumulator.opening_balance", **data)
    second = member_ledger([FAMILY_DEDUCTIBLE], member="b", first_position=10, family="F")
    second.adjudicate("c1", line(date(2026, 3, 20), applies(FDED=100)))  # in the figure
    second.adjudicate("c2", line(date(2026, 4, 20), applies(FDED=150)))
    family: dict[str, list[Claim]] = {"a": list(first.facts().claims.values())}
    row = row_of(rows(second.facts(), date(2026, 6, 30), family), "FDED")
    assert row.applied == Decimal(750)


def test_an_opening_balance_emits_accumulator_changed():
    ledger = member_ledger([DEDUCTIBLE])
    ledger.adjudicate("c1", line(date(2026, 3, 15), applies(DED=100)))
    facts = ledger.facts()
    before = rows_on(facts, {SCHEDULE}, {MARCH_31}, {})
    event = opening(ledger, "DED", "350")
    facts.apply(event)
    changed, met = changes(
        facts.member_id, before, rows_on(facts, {SCHEDULE}, {MARCH_31}, {}), event
    )
    assert [(kind, d["previous"], d["current"], d["claim_id"]) for kind, d in changed] == [
        (
            ACCUMULATOR_CHANGED,
            {"applied": "100.00", "remaining": "400.00"},
            {"applied": "350.00", "remaining": "150.00"},
            None,
        )
    ]
    assert met == []
