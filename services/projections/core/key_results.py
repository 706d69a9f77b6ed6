"""What the accumulation of a key answers (accumulation.md section 2): a visit's allocation, a
period's figures, a key's and a member's results (pure value types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from services.projections.core.fact_types import KeyId, Visit

ZERO = Decimal(0)


class Allocation(NamedTuple):
    """How a visit's counted units were drawn: regular, accumulated, unauthorized overuse, and
    of the unauthorized ones those beyond a pacing cap (2.14)."""

    regular: Decimal = ZERO
    accumulated: Decimal = ZERO
    unauthorized: Decimal = ZERO
    cap_exceeded: Decimal = ZERO

    @property
    def reason(self) -> str | None:
        return "cap_exceeded" if self.cap_exceeded > 0 else None


def frozen_allocation(visit: Visit) -> Allocation | None:
    """A billed visit's allocation as it stood when it was billed (2.11); None when unbilled."""
    billed = visit.billed
    if billed is None or billed.allocation is None:
        return None
    return Allocation(*billed.allocation)


class PeriodResult(NamedTuple):
    start: date
    end: date
    authorized: Decimal
    used: Decimal
    from_regular: Decimal
    from_accumulation: Decimal
    unauthorized: Decimal
    balance: Decimal  # the raw balance B_k, may be negative


@dataclass(frozen=True)
class KeyResult:
    key: KeyId
    payer_id: str
    frequency: str
    span_start: date
    span_end: date
    accumulates: bool
    periods: tuple[PeriodResult, ...]
    visits: dict[str, Allocation]
    # the ids of each period's visits (aligned with `periods`), so that `update_key` walks one
    # period again without sorting every visit of the key into periods; not part of the answer
    period_visits: tuple[tuple[str, ...], ...] = field(default=(), compare=False, repr=False)
    service_codes: tuple[str, ...] = ()  # the codes drawing from the key: a pool's, or its own

    @property
    def negative(self) -> bool:
        return any(period.balance < 0 for period in self.periods)


@dataclass(frozen=True)
class MemberResult:
    keys: dict[KeyId, KeyResult]
    unmatched: dict[str, Allocation]  # unauthorized visits: never in a balance
    matches: dict[str, KeyId | None]
