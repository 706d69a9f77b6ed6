"""Cost share of a claim's lines against its accumulators (pure; spec section 4.4).

A claim whose lines carry no `applied` amounts gets them here: for each line, in date order
(`from_date`, then `line_number`), against the accumulators as left by every earlier line, the
days covered, the deductible, the coinsurance, the member's total, the plan's payment and what
the line applies to each accumulator. The steps, per line:

0. Days (spec step 5, taken first because it decides what the other steps see). With `days` on
   the line and a `day` accumulator, the covered days are min(days, remaining days), the
   smallest remaining when there are several. The uncovered days' share of the allowed amount,
   allowed * uncovered / days, is the member's, outside the deductible, the coinsurance and the
   out-of-pocket maximum; the plan pays nothing for it. The rest is the covered allowed amount.
1. Deductible = min(covered allowed, remaining of every deductible accumulator). A family
   deductible met (remaining 0) thereby meets every member's individual one.
2. On the rest (covered allowed - deductible) the plan pays its coinsurance percent (of 100), the
   member the remainder (the coinsurance). With days on the line and a `reversion` accumulator
   each covered day has its own percent, found by its day number in the period (applied + 1,
   applied + 2, ...) among the reversion levels, and the rest is spread evenly over the covered
   days; otherwise the schedule's default percent.
3. The member's deductible + coinsurance is capped by the remaining out-of-pocket maximum (the
   smallest remaining of the `out_of_pocket` maximums, individual and family). The cap removes
   coinsurance first: the deductible taken stays deductible. Only a cap below the deductible
   itself lowers the deductible (to the cap), and the coinsurance is then 0. The plan pays what
   the cap removes.
4. The plan's payment is capped by the remaining benefit maximum (the smallest remaining of the
   `benefit` maximums). What exceeds it is the member's and does not count toward out-of-pocket.

Reversion levels: a day takes the first level holding its number; past the last closed level
(no open one) the last level's percent; in a gap or before the first level (schedules allow
neither) the schedule default. With several reversion accumulators, the first one given numbers
the days. A line without days (or with 0) takes the schedule default and applies 0 days.

What a line applies: every deductible its deductible; every out-of-pocket maximum the member's
deductible + coinsurance (not the uncovered days nor the part beyond the benefit maximum); every
benefit maximum the plan's payment; every day and reversion accumulator the covered days; a
`cob` accumulator nothing (it is left out of `applied`). Every other accumulator given appears,
with 0 when the line applies nothing to it.

Arithmetic in between is exact: allowed * uncovered / days and a share spread over days do not
terminate in Decimal, so the steps run on rationals (`Fraction`, exact for every Decimal) and
only each line's figures are rounded, half-up to cents. The member's figures are the ones
rounded (deductible, deductible + coinsurance, member total); the rest are derived from them:
coinsurance = round(deductible + coinsurance) - round(deductible), and plan paid = allowed -
member total. So member_total + plan_paid == allowed exactly, coinsurance is never negative,
member_total >= deductible + coinsurance, and no rounded figure passes the remaining amount
that capped it (remaining amounts being whole cents). A plan share ending in exactly half a
cent is therefore rounded down, the member's matching half cent up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

ACCUMULATOR_TYPES = frozenset({"deductible", "maximum", "day", "reversion", "cob"})
MAXIMUM_KINDS = frozenset({"out_of_pocket", "benefit"})
LEVELS = frozenset({"individual", "family"})
CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal(0)


def _check_percent(percent: Decimal, what: str) -> None:
    if not ZERO <= percent <= HUNDRED:
        raise ValueError(f"{what} must lie in 0..100, got {percent}")


@dataclass(frozen=True)
class Level:
    """One reversion level: days `from_day`..`to_day` (None: open) at this plan share."""

    from_day: int
    to_day: int | None
    coinsurance_percent: Decimal

    def __post_init__(self) -> None:
        if self.from_day < 1 or (self.to_day is not None and self.to_day < self.from_day):
            raise ValueError(f"a level runs from day 1 up, got {self.from_day}..{self.to_day}")
        _check_percent(self.coinsurance_percent, "a level's coinsurance_percent")

    def holds(self, day_number: int) -> bool:
        return self.from_day <= day_number and (self.to_day is None or day_number <= self.to_day)


@dataclass(frozen=True)
class Standing:
    """One accumulator as it stands before a line, in the claim's benefit period.

    `amount` is the schedule amount (money, or days for `day`; 0 for `reversion`), `applied` what
    is applied so far (money, or days for `day` and `reversion`). `kind` is `out_of_pocket` or
    `benefit` for a `maximum`, else None. `levels` only for a `reversion`. The caller has already
    chosen the standings that apply to the claim (network, illness or tooth rows). Day counts
    may carry a fraction (an adjudicator may apply one): only whole remaining days cover a day,
    and day numbers follow the whole days applied.
    """

    code: str
    type: str  # deductible | maximum | day | reversion | cob
    kind: str | None  # maximums: out_of_pocket | benefit; else None
    level: str  # individual | family
    amount: Decimal
    applied: Decimal
    levels: tuple[Level, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in ACCUMULATOR_TYPES:
            raise ValueError(f"accumulator {self.code!r}: unknown type {self.type!r}")
        if (self.type == "maximum") != (self.kind is not None) or (
            self.kind is not None and self.kind not in MAXIMUM_KINDS
        ):
            raise ValueError(f"accumulator {self.code!r}: kind {self.kind!r} for {self.type}")
        if self.level not in LEVELS:
            raise ValueError(f"accumulator {self.code!r}: unknown level {self.level!r}")
        if self.amount < 0:
            raise ValueError(f"accumulator {self.code!r}: negative amount {self.amount}")
        if self.levels and self.type != "reversion":
            raise ValueError(f"accumulator {self.code!r}: levels on a {self.type}")

    @property
    def remaining(self) -> Decimal:
        """Schedule amount - applied, never below 0."""
        return max(self.amount - self.applied, ZERO)


@dataclass(frozen=True)
class LineIn:
    """A claim line to share: its dates, allowed amount (cents) and claimed days (or None)."""

    line_number: int
    from_date: date
    thru_date: date
    allowed_amount: Decimal
    days: int | None = None  # days claimed (inpatient, skilled nursing), else None

    def __post_init__(self) -> None:
        if self.thru_date < self.from_date:
            raise ValueError(f"line {self.line_number}: thru_date before from_date")
        if self.allowed_amount < 0 or self.allowed_amount % CENT != 0:
            raise ValueError(
                f"line {self.line_number}: allowed_amount must be whole cents >= 0, "
                f"got {self.allowed_amount}"
            )
        if self.days is not None and self.days < 0:
            raise ValueError(f"line {self.line_number}: negative days {self.days}")


@dataclass(frozen=True)
class LineShare:
    """One line's answer; member_total + plan_paid == the line's allowed amount."""

    line_number: int
    deductible: Decimal
    coinsurance: Decimal  # the member's coinsurance after the out-of-pocket cap
    member_total: Decimal  # everything the member owes for the line
    plan_paid: Decimal
    uncovered_days: int
    applied: dict[str, Decimal]  # accumulator code -> amount (or days) this line applies


@dataclass(frozen=True)
class _Exact:
    """A line's figures before rounding (exact rationals)."""

    deductible: Fraction
    coinsurance: Fraction
    member: Fraction  # everything the member owes
    covered_days: int
    uncovered_days: int


def _remaining(
    standings: Iterable[Standing], type_: str, kind: str | None = None
) -> Fraction | None:
    """The smallest remaining of the accumulators of a type (and kind); None when there is none."""
    found = [s.remaining for s in standings if s.type == type_ and s.kind == kind]
    return Fraction(min(found)) if found else None


def level_percent(levels: Sequence[Level], day_number: int, default: Decimal) -> Decimal:
    """The plan's percent for a day number: the first level holding it; beyond the last closed
    level (with no open one) the last level's; in a gap or before the first level, `default`."""
    for level in levels:
        if level.holds(day_number):
            return level.coinsurance_percent
    if levels and all(level.to_day is not None for level in levels):
        last = max(levels, key=lambda level: level.from_day)
        if last.to_day is not None and day_number > last.to_day:
            return last.coinsurance_percent
    return default


def _plan_percent(
    standings: Sequence[Standing], covered_days: int, has_days: bool, default: Decimal
) -> Fraction:
    """The plan's percent on the rest: the mean over the covered days of each day's reversion
    level (the first reversion accumulator's day numbers) when the line has days and the
    standings a reversion; else the schedule default."""
    reversion = next((s for s in standings if s.type == "reversion"), None)
    if reversion is None or not has_days or covered_days == 0:
        return Fraction(default)
    first_day = max(math.floor(reversion.applied), 0) + 1
    last_day = first_day + covered_days - 1
    # The percent only changes where a level starts or ends: sum it per run of equal days, so the
    # work is bounded by the number of levels, not by the days on the line.
    edges = {first_day, last_day + 1}
    for level in reversion.levels:
        edges.update({level.from_day, (level.to_day or last_day) + 1})
    runs = sorted(edge for edge in edges if first_day <= edge <= last_day + 1)
    total = sum(
        (
            Fraction(level_percent(reversion.levels, start, default)) * (end - start)
            for start, end in pairwise(runs)
        ),
        Fraction(0),
    )
    return total / covered_days


def _covered_days(standings: Sequence[Standing], days: int) -> int:
    """min(days, the smallest remaining of the day accumulators); all days when there is none."""
    remaining = _remaining(standings, "day")
    return days if remaining is None else min(days, math.floor(remaining))


def _exact_share(line: LineIn, standings: Sequence[Standing], default: Decimal) -> _Exact:
    """Steps 0-4 of the rule on exact rationals (see the module docstring)."""
    allowed = Fraction(line.allowed_amount)
    days = line.days or 0
    covered_days = _covered_days(standings, days)
    covered = allowed * covered_days / days if days else allowed  # step 0
    deductible_left = _remaining(standings, "deductible")  # step 1
    deductible = Fraction(0) if deductible_left is None else min(covered, deductible_left)
    rest = covered - deductible
    plan = rest * _plan_percent(standings, covered_days, days > 0, default) / 100  # step 2
    coinsurance = rest - plan
    out_of_pocket = _remaining(standings, "maximum", "out_of_pocket")  # step 3
    if out_of_pocket is not None and deductible + coinsurance > out_of_pocket:
        deductible = min(deductible, out_of_pocket)
        coinsurance = out_of_pocket - deductible
        plan = covered - deductible - coinsurance
    benefit = _remaining(standings, "maximum", "benefit")  # step 4
    beyond = max(plan - benefit, Fraction(0)) if benefit is not None else Fraction(0)
    plan -= beyond
    member = allowed - plan  # the uncovered days' share + deductible + coinsurance + beyond
    return _Exact(deductible, coinsurance, member, covered_days, days - covered_days)


def _cents(value: Fraction) -> Decimal:
    """Half-up to cents; `value` is never negative here."""
    assert value >= 0, "only non-negative figures are rounded"
    return Decimal(math.floor(value * 100 + Fraction(1, 2))).scaleb(-2)


def _applied(
    standings: Sequence[Standing],
    deductible: Decimal,
    out_of_pocket: Decimal,
    plan: Decimal,
    days: int,
) -> dict[str, Decimal]:
    """What a line applies to each accumulator; `cob` accumulators are left out."""
    by_type = {"deductible": deductible, "day": Decimal(days), "reversion": Decimal(days)}
    by_kind = {"out_of_pocket": out_of_pocket, "benefit": plan}
    return {
        s.code: by_kind[s.kind] if s.kind is not None else by_type[s.type]
        for s in standings
        if s.type != "cob"
    }


def share_line(
    line: LineIn, standings: Sequence[Standing], coinsurance_percent: Decimal
) -> LineShare:
    """One line's share against the standings as they are (see the module docstring)."""
    _check_percent(coinsurance_percent, "coinsurance_percent")
    exact = _exact_share(line, standings, coinsurance_percent)
    deductible = _cents(exact.deductible)
    out_of_pocket = _cents(exact.deductible + exact.coinsurance)
    member_total = _cents(exact.member)
    plan_paid = line.allowed_amount - member_total
    share = LineShare(
        line_number=line.line_number,
        deductible=deductible,
        coinsurance=out_of_pocket - deductible,
        member_total=member_total,
        plan_paid=plan_paid,
        uncovered_days=exact.uncovered_days,
        applied=_applied(standings, deductible, out_of_pocket, plan_paid, exact.covered_days),
    )
    _check_share(share, line, standings)
    return share


def _check_share(share: LineShare, line: LineIn, standings: Sequence[Standing]) -> None:
    """The invariants every line's answer keeps."""
    assert share.member_total + share.plan_paid == line.allowed_amount, "balance identity"
    assert min(share.deductible, share.coinsurance, share.plan_paid) >= 0, "no negative figure"
    assert share.member_total >= share.deductible + share.coinsurance, "member parts fit"
    for s in standings:
        if s.type in ("deductible", "maximum") and s.remaining == s.remaining.quantize(CENT):
            assert share.applied[s.code] <= s.remaining, f"{s.code} applied beyond remaining"


def apply_share(standings: Sequence[Standing], applied: Mapping[str, Decimal]) -> list[Standing]:
    """The standings after a line: each accumulator's applied plus the line's."""
    return [
        replace(s, applied=s.applied + applied[s.code]) if s.code in applied else s
        for s in standings
    ]


def share_claim(
    lines: Sequence[LineIn], standings: Sequence[Standing], coinsurance_percent: Decimal
) -> tuple[list[LineShare], list[Standing]]:
    """Lines in date order (from_date, then line_number), each against the standings as left by
    the earlier lines; returns each line's share, in that order, and the standings after the
    claim (in the order given)."""
    _check_percent(coinsurance_percent, "coinsurance_percent")
    codes = [s.code for s in standings]
    if len(set(codes)) != len(codes):
        raise ValueError(f"accumulator codes must be unique, got {codes}")
    current = list(standings)
    shares: list[LineShare] = []
    for line in sorted(lines, key=lambda line: (line.from_date, line.line_number)):
        share = share_line(line, current, coinsurance_percent)
        current = apply_share(current, share.applied)
        shares.append(share)
    return shares, current
