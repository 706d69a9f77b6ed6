"""Answers read from key results: a balance as of a date, a scheduling check (pure)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from contracts.decimals import units_text
from services.projections.core.accumulation import (
    ZERO,
    KeyResult,
    PeriodResult,
    match_visit,
)
from services.projections.core.benefits import eligible
from services.projections.core.caps import fill_key_caps, has_caps, room_on
from services.projections.core.facts import KeyId, MemberFacts
from services.projections.core.member import Flag, MemberProjection


@dataclass(frozen=True)
class NegativeAccrual:
    overuse: Decimal
    cause: str
    event_id: str
    period_start: date


@dataclass(frozen=True)
class KeyView:
    """One key as of a date: SUMMARY and periods of the contract."""

    result: KeyResult
    as_of: date
    raw_balance: Decimal
    periods: tuple[PeriodResult, ...]
    negative_accrual: NegativeAccrual | None

    @property
    def accumulated_units(self) -> Decimal:
        return max(ZERO, self.raw_balance)


def period_index(result: KeyResult, day: date) -> int:
    """Index of the last period starting on or before `day`; -1 before the first period."""
    return bisect_right([p.start for p in result.periods], day) - 1


def key_view(result: KeyResult, flag: Flag | None, as_of: date) -> KeyView:
    """The balance as of a date: B_k of the period containing it, 0 before, B_n after (2.5)."""
    index = period_index(result, as_of)
    periods = result.periods[: index + 1]
    raw = periods[-1].balance if periods else ZERO
    negative = None
    if raw < 0:
        first_negative = next(p for p in periods if p.balance < 0)
        negative = NegativeAccrual(
            overuse=-raw,
            cause=flag.cause if flag else "overuse",
            event_id=flag.event_id if flag else "",
            period_start=first_negative.start,
        )
    return KeyView(result, as_of, raw, periods, negative)


@dataclass(frozen=True)
class CheckResult:
    """A proposed visit against its key's state (2.8)."""

    key: KeyId | None
    available_regular: Decimal = ZERO
    available_accumulated: Decimal = ZERO
    regular: Decimal = ZERO
    accumulated: Decimal = ZERO
    shortfall: Decimal = ZERO  # every unit not drawn, those beyond a cap included
    cap_exceeded: Decimal = ZERO  # of the shortfall, the units beyond a pacing cap (2.14)
    warnings: list[dict[str, str]] = field(default_factory=list)

    @property
    def available_total(self) -> Decimal:
        return self.available_regular + self.available_accumulated


def _available(result: KeyResult, service_date: date) -> tuple[Decimal, Decimal]:
    """Regular units left in the period and accumulation carried in and not drawn yet, both
    capped by what the later periods leave (2.8)."""
    # a span key is one period that stretches to its matched visits, wherever they fall
    index = 0 if result.frequency == "span" else period_index(result, service_date)
    if index < 0:
        return ZERO, ZERO
    period = result.periods[index]
    if service_date > period.end and result.frequency != "span":
        # after the last period: only what was carried out of it
        return ZERO, max(ZERO, period.balance) if result.accumulates else ZERO
    previous = result.periods[index - 1].balance if index > 0 else ZERO
    carried = max(ZERO, previous) if result.accumulates else ZERO
    regular_left = max(ZERO, period.authorized - period.from_regular)
    accumulated_left = max(ZERO, carried - period.from_accumulation)
    cap = later_periods_leave(result, index)
    if cap is not None:  # regular units are drawn first, so the cap cuts accumulation first
        regular_left = min(regular_left, cap)
        accumulated_left = min(accumulated_left, cap - regular_left)
    return regular_left, accumulated_left


def later_periods_leave(result: KeyResult, index: int) -> Decimal | None:
    """`min(max(0, B_j))` over the periods after `index` that have usage (2.8, "For Past
    Weeks"): a unit used in period k lowers every later B_j by one, so more than this would take
    units a later period already drew from the accumulation. None when no later period has usage,
    or when the key does not accumulate (each period stands alone)."""
    if not result.accumulates:
        return None
    later = [max(ZERO, p.balance) for p in result.periods[index + 1 :] if p.used > 0]
    return min(later) if later else None


def cap_room(projection: MemberProjection, key: KeyId, service_date: date) -> Decimal | None:
    """The units a proposal on `service_date` may still use within the pacing caps of the key's
    lines, after every known visit of the key (2.14); None when no cap counts that day."""
    facts = projection.facts
    lines = facts.key_lines(key)
    if not has_caps(lines):
        return None
    settings = facts.key_settings(key)
    visits = [facts.visits[v] for v, found in projection.matches.items() if found == key]
    _, inside = fill_key_caps(lines, visits, settings)
    return room_on(lines, inside, service_date, settings.week_starts_on)


def _cap_warning(cap_exceeded: Decimal) -> dict[str, str]:
    return {
        "code": "cap_exceeded",
        "message": f"{units_text(cap_exceeded)} units beyond a pacing cap of the authorization",
        "shortfall": units_text(cap_exceeded),
    }


def scheduling_check(
    projection: MemberProjection,
    payer_id: str,
    service_code: str,
    service_date: date,
    units: Decimal,
    authorization_number: str | None,
) -> CheckResult:
    """Available = regular units left in the period + accumulation carried in and not yet drawn,
    never more than the later periods leave (2.8). A visit that matches no key is warned only
    where an authorization rule applies (section 3): else it has no shortfall and no warning."""
    facts: MemberFacts = projection.facts
    key = match_visit(
        facts.lines.values(), payer_id, service_code, service_date, authorization_number
    )
    regular_left = accumulated_left = ZERO
    within = units  # the units inside every pacing cap (2.14)
    if key is not None:
        regular_left, accumulated_left = _available(projection.key_result(key), service_date)
        room = cap_room(projection, key, service_date)
        within = units if room is None else min(units, room)
    regular = min(within, regular_left)
    accumulated = min(within - regular, accumulated_left)
    shortfall = units - regular - accumulated
    cap_exceeded = units - within
    warnings = [_cap_warning(cap_exceeded)] if cap_exceeded > 0 else []
    if key is None and not facts.authorization_applies(payer_id, service_code):
        shortfall = ZERO  # no rule asks for an authorization: nothing to fall short of
    elif key is None:
        warnings.append(
            {
                "code": "no_authorization",
                "message": "no authorization covers this member, service code and date",
                "shortfall": units_text(units),
            }
        )
    if shortfall - cap_exceeded > 0:  # the units a cap allows but the balance does not cover
        short = shortfall - cap_exceeded
        warnings.append(
            {
                "code": "insufficient_units",
                "message": f"{units_text(short)} units beyond the regular and accumulated "
                "units available",
                "shortfall": units_text(short),
            }
        )
    if not eligible(facts.coverage.get(payer_id), service_date):
        warnings.append(
            {
                "code": "not_eligible",
                "message": f"{service_date} lies outside the member's coverage by {payer_id}",
            }
        )
    return CheckResult(
        key, regular_left, accumulated_left, regular, accumulated, shortfall, cap_exceeded, warnings
    )


REVIEW_REASONS = ("negative_accrual", "zero_balance", "past_overuse")


@dataclass(frozen=True)
class Review:
    """Why a key is on the exceeding-accumulation report as of a date (2.10)."""

    reason: str  # the first of REVIEW_REASONS that applies
    overuse: Decimal  # -B_k for negative_accrual, else the unauthorized units up to the date
    cause: str | None  # the flag's cause (2.7) when a period up to the date overdrew
    event_id: str | None
    period_start: date | None  # the first period up to the date with unauthorized units


def review(view: KeyView, flag: Flag | None) -> Review | None:
    """The key's reason to be reviewed as of its date, or None (2.10): `negative_accrual` when
    B_k < 0, `zero_balance` when B_k = 0, `past_overuse` when B_k > 0 but a period up to the date
    had unauthorized units (an overdraw that later recovered stays visible). A key is judged from
    its first period on: before it, its 0 is no finding (decision)."""
    if not view.periods:
        return None
    overdrawn = [p for p in view.periods if p.unauthorized > 0]
    period_start = overdrawn[0].start if overdrawn else None
    if view.negative_accrual is not None:
        negative = view.negative_accrual
        return Review(
            "negative_accrual",
            negative.overuse,
            negative.cause,
            negative.event_id or None,
            period_start or negative.period_start,
        )
    if view.raw_balance > 0 and not overdrawn:
        return None
    reason = "zero_balance" if view.raw_balance == 0 else "past_overuse"
    # the flag stays while any period is negative: it explains this key only with an overdraw
    # up to the date (a flag of a later period is not this date's story)
    explained = flag if overdrawn else None
    return Review(
        reason,
        sum((p.unauthorized for p in overdrawn), ZERO),
        explained.cause if explained else None,
        explained.event_id if explained else None,
        period_start,
    )
