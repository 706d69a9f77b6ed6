"""accumulation.md 4.4: cost share of a claim's lines against its accumulators.

For a claim's lines in date order, against the accumulators as they stand after every earlier
line: days beyond the remaining day accumulator are the member's and the plan pays nothing for
them; deductible = min(allowed, remaining deductibles), a family deductible met meeting every
member's; on the rest the plan pays its coinsurance percent (the reversion level of each day for
a line with days, else the schedule default); the member's deductible + coinsurance is capped by
the remaining out-of-pocket maximum, the plan paying what the cap removes; the plan's payment is
capped by the remaining benefit maximum, the excess the member's (not out-of-pocket). Money is
rounded half-up to cents at each line, never in between.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.projections.core.costshare import (
    Level,
    LineIn,
    LineShare,
    Standing,
    level_percent,
    share_claim,
)

SERVICE_DAY = date(2026, 3, 2)
EIGHTY = Decimal("80")
LEVELS_70_50_0 = (
    Level(1, 4, Decimal("70")),
    Level(5, 10, Decimal("50")),
    Level(11, None, Decimal("0")),
)


def money(value: str) -> Decimal:
    return Decimal(value)


def line(allowed: str, number: int = 1, days: int | None = None, day: date = SERVICE_DAY) -> LineIn:
    return LineIn(number, day, day, money(allowed), days)


def deductible(
    amount: str = "500", applied: str = "0", code: str = "DED", level: str = "individual"
) -> Standing:
    return Standing(code, "deductible", None, level, money(amount), money(applied))


def out_of_pocket(
    amount: str = "3000", applied: str = "0", code: str = "OOP", level: str = "individual"
) -> Standing:
    return Standing(code, "maximum", "out_of_pocket", level, money(amount), money(applied))


def benefit_maximum(amount: str = "10000", applied: str = "0", code: str = "BEN") -> Standing:
    return Standing(code, "maximum", "benefit", "individual", money(amount), money(applied))


def day_accumulator(amount: int = 100, applied: int = 0, code: str = "SNF") -> Standing:
    return Standing(code, "day", None, "individual", Decimal(amount), Decimal(applied))


def reversion(
    applied: int = 0, levels: tuple[Level, ...] = LEVELS_70_50_0, code: str = "REV"
) -> Standing:
    return Standing(code, "reversion", None, "individual", Decimal(0), Decimal(applied), levels)


def day_accumulator_of(amount: str, applied: str) -> Standing:
    return Standing("SNF", "day", None, "individual", Decimal(amount), Decimal(applied))


def reversion_of(applied: str) -> Standing:
    return Standing(
        "REV", "reversion", None, "individual", Decimal(0), Decimal(applied), LEVELS_70_50_0
    )


def cob(code: str = "COB") -> Standing:
    return Standing(code, "cob", None, "individual", Decimal(0), money("125.00"))


def one(
    allowed: str,
    standings: list[Standing],
    days: int | None = None,
    percent: Decimal = EIGHTY,
) -> tuple[LineShare, list[Standing]]:
    shares, after = share_claim([line(allowed, days=days)], standings, percent)
    assert len(shares) == 1
    assert shares[0].member_total + shares[0].plan_paid == money(allowed)
    return shares[0], after


def figures(share: LineShare) -> tuple[Decimal, Decimal, Decimal, Decimal, int]:
    """deductible, coinsurance, member total, plan paid, uncovered days."""
    return (
        share.deductible,
        share.coinsurance,
        share.member_total,
        share.plan_paid,
        share.uncovered_days,
    )


def cents(*values: str) -> tuple[Decimal, ...]:
    return tuple(money(value) for value in values)


# --- no accumulators --------------------------------------------------------------------------


def test_no_accumulators_the_plan_pays_its_coinsurance_percent() -> None:
    share, after = one("1000.00", [])
    assert figures(share) == (*cents("0", "200.00", "200.00", "800.00"), 0)
    assert share.applied == {}
    assert after == []


def test_an_empty_claim_changes_nothing() -> None:
    standings = [deductible(), out_of_pocket()]
    assert share_claim([], standings, EIGHTY) == ([], standings)


def test_a_zero_allowed_line_applies_zeros() -> None:
    share, _ = one("0.00", [deductible(), out_of_pocket(), benefit_maximum()])
    assert figures(share) == (*cents("0", "0", "0", "0"), 0)
    assert share.applied == {"DED": 0, "OOP": 0, "BEN": 0}


# --- step 1: deductible -----------------------------------------------------------------------


def test_deductible_is_taken_first_then_coinsurance_on_the_rest() -> None:
    share, after = one("1000.00", [deductible("500")])
    assert figures(share) == (*cents("500.00", "100.00", "600.00", "400.00"), 0)
    assert share.applied == {"DED": money("500.00")}
    assert after[0].applied == money("500.00") and after[0].remaining == 0


def test_a_partly_met_deductible_takes_only_what_remains() -> None:
    share, _ = one("1000.00", [deductible("500", applied="400")])
    assert figures(share) == (*cents("100.00", "180.00", "280.00", "720.00"), 0)


def test_a_deductible_larger_than_the_line_takes_the_whole_line() -> None:
    share, after = one("300.00", [deductible("1000")])
    assert figures(share) == (*cents("300.00", "0", "300.00", "0"), 0)
    assert after[0].remaining == money("700.00")


def test_family_deductible_met_by_three_members_means_no_deductible_for_a_fourth() -> None:
    family = deductible("3000", code="DED-FAM", level="family")
    for member in range(3):
        individual = deductible("1000", code="DED-IND")
        shares, after = share_claim([line("1500.00")], [individual, family], EIGHTY)
        assert shares[0].deductible == money("1000.00"), member
        assert shares[0].applied == {"DED-IND": money("1000.00"), "DED-FAM": money("1000.00")}
        family = after[1]
    assert family.applied == money("3000.00") and family.remaining == 0
    fourth = deductible("1000", code="DED-IND")
    shares, after = share_claim([line("1500.00")], [fourth, family], EIGHTY)
    assert figures(shares[0]) == (*cents("0", "300.00", "300.00", "1200.00"), 0)
    assert [s.applied for s in after] == [0, money("3000.00")]


def test_a_family_deductible_nearly_met_limits_a_members_individual_one() -> None:
    family = deductible("3000", applied="2800", code="DED-FAM", level="family")
    share, _ = one("1500.00", [deductible("1000", code="DED-IND"), family])
    assert share.deductible == money("200.00")


# --- step 3: out-of-pocket maximum -------------------------------------------------------------


def test_out_of_pocket_cap_reduces_the_coinsurance_and_the_plan_pays_the_rest() -> None:
    share, after = one("1000.00", [out_of_pocket("2000", applied="1900")])
    assert figures(share) == (*cents("0", "100.00", "100.00", "900.00"), 0)
    assert after[0].remaining == 0


def test_out_of_pocket_cap_keeps_the_deductible_and_cuts_coinsurance() -> None:
    share, _ = one("1000.00", [deductible("500"), out_of_pocket("550")])
    assert figures(share) == (*cents("500.00", "50.00", "550.00", "450.00"), 0)
    assert share.applied == {"DED": money("500.00"), "OOP": money("550.00")}


def test_out_of_pocket_cap_below_the_deductible_lowers_the_deductible_too() -> None:
    share, _ = one("2000.00", [deductible("1000"), out_of_pocket("3000", applied="2700")])
    assert figures(share) == (*cents("300.00", "0", "300.00", "1700.00"), 0)
    assert share.applied == {"DED": money("300.00"), "OOP": money("300.00")}


def test_out_of_pocket_met_the_plan_pays_everything_and_no_deductible_applies() -> None:
    share, _ = one("1000.00", [deductible("500"), out_of_pocket("3000", applied="3000")])
    assert figures(share) == (*cents("0", "0", "0", "1000.00"), 0)
    assert share.applied == {"DED": 0, "OOP": 0}


def test_out_of_pocket_the_smallest_of_individual_and_family_caps() -> None:
    family = out_of_pocket("6000", applied="5950", code="OOP-FAM", level="family")
    share, _ = one("1000.00", [out_of_pocket("3000", code="OOP-IND"), family])
    assert figures(share) == (*cents("0", "50.00", "50.00", "950.00"), 0)
    assert share.applied == {"OOP-IND": money("50.00"), "OOP-FAM": money("50.00")}


# --- step 4: benefit maximum ------------------------------------------------------------------


def test_benefit_maximum_caps_the_plan_and_the_excess_is_not_out_of_pocket() -> None:
    standings = [out_of_pocket("3000"), benefit_maximum("5000", applied="4700")]
    share, after = one("1000.00", standings)
    assert figures(share) == (*cents("0", "200.00", "700.00", "300.00"), 0)
    assert share.applied == {"OOP": money("200.00"), "BEN": money("300.00")}
    assert [s.remaining for s in after] == [money("2800.00"), 0]


def test_benefit_maximum_exhausted_the_plan_pays_nothing() -> None:
    share, _ = one("1000.00", [benefit_maximum("5000", applied="5000")])
    assert figures(share) == (*cents("0", "200.00", "1000.00", "0"), 0)


# --- step 0 (spec step 5): day accumulator ----------------------------------------------------


def test_days_beyond_the_day_accumulator_are_the_members_and_outside_the_caps() -> None:
    standings = [day_accumulator(100, applied=98), out_of_pocket("3000")]
    share, after = one("1000.00", standings, days=5)
    # 2 covered days: 400.00 at 80%; 3 uncovered days: 600.00 the member's, not out-of-pocket.
    assert figures(share) == (*cents("0", "80.00", "680.00", "320.00"), 3)
    assert share.applied == {"SNF": 2, "OOP": money("80.00")}
    assert after[0].applied == 100 and after[0].remaining == 0


def test_day_accumulator_exhausted_the_plan_pays_nothing_for_the_line() -> None:
    share, _ = one("700.00", [day_accumulator(100, applied=100), deductible("500")], days=7)
    assert figures(share) == (*cents("0", "0", "700.00", "0"), 7)
    assert share.applied == {"SNF": 0, "DED": 0}


def test_days_on_a_line_without_a_day_accumulator_are_all_covered() -> None:
    share, _ = one("1000.00", [deductible("100")], days=5)
    assert figures(share) == (*cents("100.00", "180.00", "280.00", "720.00"), 0)


def test_a_line_without_days_applies_zero_days() -> None:
    share, _ = one("100.00", [day_accumulator(100, applied=10), reversion(applied=3)])
    assert figures(share) == (*cents("0", "20.00", "20.00", "80.00"), 0)
    assert share.applied == {"SNF": 0, "REV": 0}


# --- step 2: reversion levels -----------------------------------------------------------------


def test_reversion_first_days_at_the_first_level() -> None:
    share, _ = one("400.00", [reversion(applied=0)], days=4)
    assert figures(share) == (*cents("0", "120.00", "120.00", "280.00"), 0)
    assert share.applied == {"REV": 4}


def test_reversion_a_line_crossing_a_level_and_a_second_line_continuing_day_numbers() -> None:
    lines = [
        LineIn(1, SERVICE_DAY, SERVICE_DAY + timedelta(days=3), money("400.00"), 4),
        LineIn(2, SERVICE_DAY + timedelta(days=4), SERVICE_DAY + timedelta(9), money("600"), 6),
    ]
    shares, after = share_claim(lines, [reversion(applied=2)], EIGHTY)
    # days 3, 4 at 70 and 5, 6 at 50: 60% of 400.00
    assert figures(shares[0]) == (*cents("0", "160.00", "160.00", "240.00"), 0)
    # days 7-10 at 50 and 11, 12 at 0: (4 * 50) / 6 of 600.00
    assert figures(shares[1]) == (*cents("0", "400.00", "400.00", "200.00"), 0)
    assert [s.applied for s in shares] == [{"REV": 4}, {"REV": 6}]
    assert after[0].applied == 12


def test_reversion_beyond_the_last_closed_level_keeps_the_last_levels_percent() -> None:
    levels = LEVELS_70_50_0[:2]  # no open level
    share, _ = one("300.00", [reversion(applied=9, levels=levels)], days=3)
    assert figures(share) == (*cents("0", "150.00", "150.00", "150.00"), 0)


def test_reversion_counts_only_covered_days() -> None:
    standings = [day_accumulator(6, applied=2), reversion(applied=2)]
    share, after = one("600.00", standings, days=6)
    # 4 covered days (3, 4 at 70; 5, 6 at 50) on 400.00; 2 uncovered days, 200.00
    assert figures(share) == (*cents("0", "160.00", "360.00", "240.00"), 2)
    assert [s.applied for s in after] == [6, 6]


def test_reversion_on_a_long_line_sums_each_level_once() -> None:
    share, _ = one("4000.00", [reversion(applied=0)], days=400)
    # 4 days at 70, 6 at 50, 390 at 0: 580 / 400 = 1.45% of 4000.00
    assert figures(share) == (*cents("0", "3942.00", "3942.00", "58.00"), 0)
    assert share.applied == {"REV": 400}


def test_fractional_day_counts_cover_whole_days_only() -> None:
    standings = [day_accumulator_of("100", "97.5"), reversion_of("2.5")]
    share, after = one("500.00", standings, days=5)
    # 2 whole days remain: days 3 and 4 at 70 on 200.00; 3 uncovered days, 300.00
    assert figures(share) == (*cents("0", "60.00", "360.00", "140.00"), 3)
    assert [s.applied for s in after] == [Decimal("99.5"), Decimal("4.5")]


def test_level_percent_gaps_and_ends() -> None:
    levels = (Level(1, 4, Decimal("70")), Level(8, 10, Decimal("50")))
    assert [level_percent(levels, day, EIGHTY) for day in (1, 4, 5, 8, 11)] == [
        Decimal("70"),
        Decimal("70"),
        EIGHTY,  # in a gap: the schedule default
        Decimal("50"),
        Decimal("50"),  # beyond the last closed level: the last level's
    ]
    assert level_percent((), 3, EIGHTY) == EIGHTY


# --- all the caps together --------------------------------------------------------------------


def test_all_four_caps_on_one_line() -> None:
    standings = [
        day_accumulator(100, applied=98),
        deductible("500"),
        out_of_pocket("3000", applied="2400"),
        benefit_maximum("10000", applied="9000"),
    ]
    share, _ = one("5000.00", standings, days=5)
    # 3 uncovered days: 3000.00 member. Covered 2000.00: deductible 500.00, rest 1500.00 at 80%:
    # plan 1200.00, coinsurance 300.00 capped by out-of-pocket 600.00 to 100.00 (plan 1400.00),
    # plan capped by the benefit maximum to 1000.00 (400.00 the member's).
    assert figures(share) == (*cents("500.00", "100.00", "4000.00", "1000.00"), 3)
    assert share.applied == {
        "SNF": 2,
        "DED": money("500.00"),
        "OOP": money("600.00"),
        "BEN": money("1000.00"),
    }


# --- rounding ---------------------------------------------------------------------------------


def test_thirds_are_rounded_once_per_line_not_in_between() -> None:
    share, _ = one("100.00", [day_accumulator(100, applied=98)], days=3)
    # uncovered 33.333..., coinsurance 13.333...: member 46.666... -> 46.67 (not 33.33 + 13.33)
    assert figures(share) == (*cents("0", "13.33", "46.67", "53.33"), 1)


def test_a_third_of_a_percent_coinsurance() -> None:
    share, _ = one("100.00", [], percent=Decimal("33.333"))
    assert figures(share) == (*cents("0", "66.67", "66.67", "33.33"), 0)


def test_half_a_cent_rounds_the_members_share_up_and_the_plan_derives() -> None:
    share, _ = one("10.01", [], percent=Decimal("50"))
    assert figures(share) == (*cents("0", "5.01", "5.01", "5.00"), 0)


def test_deductible_and_coinsurance_round_as_a_pair() -> None:
    # covered 0.015 (1 of 2 days of 0.03): deductible 0.01, coinsurance 0.005 at a 0% plan share
    standings = [day_accumulator(1), deductible("0.01")]
    share, _ = one("0.03", standings, days=2, percent=Decimal("0"))
    assert figures(share) == (*cents("0.01", "0.01", "0.03", "0.00"), 1)


def test_every_line_balances_to_its_allowed_amount() -> None:
    lines = [line(f"{33 + n}.{n:02d}", number=n, days=n % 4 or None) for n in range(1, 12)]
    standings = [day_accumulator(12), reversion(), deductible("41.17"), out_of_pocket("90.01")]
    shares, _ = share_claim(lines, standings, Decimal("66.667"))
    by_number = {entry.line_number: entry.allowed_amount for entry in lines}
    assert all(s.member_total + s.plan_paid == by_number[s.line_number] for s in shares)
    assert all(s.plan_paid.as_tuple().exponent == -2 for s in shares)


# --- order and the standings after ------------------------------------------------------------


def test_lines_are_shared_in_date_order_then_line_number_whatever_the_order_given() -> None:
    lines = [
        line("300.00", number=1, day=date(2026, 3, 10)),
        line("400.00", number=3, day=date(2026, 3, 1)),
        line("200.00", number=2, day=date(2026, 3, 1)),
    ]
    shares, _ = share_claim(lines, [deductible("500")], EIGHTY)
    assert [(s.line_number, s.deductible) for s in shares] == [
        (2, money("200.00")),
        (3, money("300.00")),
        (1, money("0")),
    ]


def test_standings_returned_reflect_every_line_and_keep_their_order() -> None:
    standings = [cob(), deductible("500"), out_of_pocket("1000"), benefit_maximum("10000")]
    lines = [line("1000.00", number=1), line("3000.00", number=2)]
    shares, after = share_claim(lines, standings, EIGHTY)
    # line 1: deductible 500, coinsurance 100, plan 400; line 2: coinsurance 600 capped to 400
    assert [figures(s) for s in shares] == [
        (*cents("500.00", "100.00", "600.00", "400.00"), 0),
        (*cents("0", "400.00", "400.00", "2600.00"), 0),
    ]
    assert [s.code for s in after] == ["COB", "DED", "OOP", "BEN"]
    assert [s.applied for s in after] == list(cents("125.00", "500.00", "1000.00", "3000.00"))
    assert after[0] == standings[0]  # cob: nothing applied, not in `applied`
    assert all("COB" not in s.applied for s in shares)


# --- inputs that break the rule's assumptions -------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: Standing("X", "copay", None, "individual", Decimal(1), Decimal(0)),
        lambda: Standing("X", "maximum", None, "individual", Decimal(1), Decimal(0)),
        lambda: Standing("X", "deductible", "benefit", "individual", Decimal(1), Decimal(0)),
        lambda: Standing("X", "maximum", "copay", "individual", Decimal(1), Decimal(0)),
        lambda: Standing("X", "deductible", None, "member", Decimal(1), Decimal(0)),
        lambda: LineIn(1, SERVICE_DAY, SERVICE_DAY, Decimal("1.00"), -1),
        lambda: LineIn(1, SERVICE_DAY, SERVICE_DAY, Decimal("1.005")),
        lambda: LineIn(1, SERVICE_DAY, SERVICE_DAY, Decimal("-1.00")),
        lambda: Level(0, 4, Decimal("70")),
        lambda: Level(1, 4, Decimal("101")),
        lambda: share_claim([], [deductible(), deductible()], EIGHTY),
        lambda: share_claim([line("1.00")], [], Decimal("-1")),
    ],
)
def test_inputs_outside_the_rule_are_refused(build: object) -> None:
    assert callable(build)
    with pytest.raises(ValueError):
        build()


# --- property ---------------------------------------------------------------------------------

MONEY = st.integers(0, 1_000_000).map(lambda c: Decimal(c).scaleb(-2))


@st.composite
def reversion_levels(draw: st.DrawFn) -> tuple[Level, ...]:
    cuts = sorted(draw(st.sets(st.integers(2, 20), max_size=4)))
    starts = [1, *cuts]
    percents = [Decimal(draw(st.integers(0, 100))) for _ in starts]
    ends: list[int | None] = [start - 1 for start in starts[1:]]
    ends.append(None if draw(st.booleans()) else starts[-1] + draw(st.integers(0, 5)))
    return tuple(Level(s, e, p) for s, e, p in zip(starts, ends, percents, strict=True))


@st.composite
def claims(draw: st.DrawFn) -> tuple[list[LineIn], list[Standing], Decimal]:
    standings: list[Standing] = []
    for code, type_, kind, level in [
        ("DED", "deductible", None, "individual"),
        ("DED-FAM", "deductible", None, "family"),
        ("OOP", "maximum", "out_of_pocket", "individual"),
        ("OOP-FAM", "maximum", "out_of_pocket", "family"),
        ("BEN", "maximum", "benefit", "individual"),
    ]:
        if draw(st.booleans()):
            standings.append(Standing(code, type_, kind, level, draw(MONEY), draw(MONEY)))
    if draw(st.booleans()):
        amount, applied = draw(st.integers(0, 30)), draw(st.integers(0, 35))
        standings.append(day_accumulator(amount, applied))
    if draw(st.booleans()):
        standings.append(reversion(draw(st.integers(0, 25)), draw(reversion_levels())))
    if draw(st.booleans()):
        standings.append(cob())
    count = draw(st.integers(1, 5))
    lines = [
        LineIn(
            number,
            SERVICE_DAY + timedelta(days=draw(st.integers(0, 30))),
            SERVICE_DAY + timedelta(days=31),
            draw(MONEY),
            draw(st.none() | st.integers(0, 15)),
        )
        for number in range(1, count + 1)
    ]
    percent = Decimal(draw(st.integers(0, 100_000))).scaleb(-3)
    return lines, draw(st.permutations(standings)), percent


def smallest_remaining(standings: list[Standing], codes: set[str]) -> Decimal | None:
    found = [s.remaining for s in standings if s.code in codes]
    return min(found) if found else None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claim=claims())
def test_every_claim_balances_and_stays_within_its_caps(
    claim: tuple[list[LineIn], list[Standing], Decimal],
) -> None:
    lines, standings, percent = claim
    shares, after = share_claim(lines, standings, percent)
    allowed = {entry.line_number: entry.allowed_amount for entry in lines}
    assert sorted(s.line_number for s in shares) == sorted(allowed)
    for share in shares:
        assert share.member_total + share.plan_paid == allowed[share.line_number]
        parts = (share.deductible, share.coinsurance, share.member_total, share.plan_paid)
        assert all(part >= 0 and part == part.quantize(Decimal("0.01")) for part in parts)
        assert share.uncovered_days >= 0
        assert share.member_total >= share.deductible + share.coinsurance
        for code in ("OOP", "OOP-FAM"):
            assert share.applied.get(code, share.deductible + share.coinsurance) == (
                share.deductible + share.coinsurance
            )
    for codes, total in [
        ({"BEN"}, sum((s.plan_paid for s in shares), Decimal(0))),
        ({"OOP", "OOP-FAM"}, sum((s.deductible + s.coinsurance for s in shares), Decimal(0))),
        ({"DED", "DED-FAM"}, sum((s.deductible for s in shares), Decimal(0))),
    ]:
        cap = smallest_remaining(standings, codes)
        assert cap is None or total <= cap
    for before, now in zip(standings, after, strict=True):
        line_total = sum((s.applied.get(before.code, Decimal(0)) for s in shares), Decimal(0))
        assert now.applied == before.applied + line_total
