"""Derived events from key changes (pure): `balance.changed` and
`accumulation.negative_accrual_flagged` (api.md Subscriptions, accumulation.md 2.7 and 2.9).

A `balance.changed` goes out for a key when an event changes any of its period balances; its
`previous` and `current` are the balance as of the day the event was recorded. The period
rollover (`tick`) emits one per key when a new period starts. Sequences and key versions are
assigned when the events are stored (services/projections/emit.py).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from contracts.decimals import units_text
from services.projections.core.accumulation import ZERO, KeyResult
from services.projections.core.facts import KeyId
from services.projections.core.member import Flag, KeyChange
from services.projections.core.views import KeyView, key_view


class Derived:
    """One derived event before it has a sequence."""

    __slots__ = ("data", "occurred_at", "position", "type")

    def __init__(self, event_type: str, data: dict[str, Any], position: int, at: datetime):
        self.type = event_type
        self.data = data
        self.position = position
        self.occurred_at = at


BALANCE_CHANGED = "balance.changed"
NEGATIVE_ACCRUAL_FLAGGED = "accumulation.negative_accrual_flagged"


def key_body(member_id: str, key: KeyId) -> dict[str, str]:
    return {"member_id": member_id, "authorization_number": key[0], "service_code": key[1]}


def balance(view: KeyView | None) -> dict[str, str]:
    if view is None:
        return {"raw_balance": units_text(ZERO), "accumulated_units": units_text(ZERO)}
    return {
        "raw_balance": units_text(view.raw_balance),
        "accumulated_units": units_text(view.accumulated_units),
    }


def negative_body(view: KeyView) -> dict[str, str] | None:
    negative = view.negative_accrual
    if negative is None:
        return None
    return {
        "overuse": units_text(negative.overuse),
        "cause": negative.cause,
        "event_id": negative.event_id,
        "period_start": negative.period_start.isoformat(),
    }


def first_affected_period(before: KeyResult | None, after: KeyResult) -> date | None:
    """The start of the first period whose balance differs; None when none does."""
    old = [(p.start, p.balance) for p in before.periods] if before else []
    new = [(p.start, p.balance) for p in after.periods]
    for was, now in zip(old, new, strict=False):
        if was != now:
            return min(was[0], now[0])
    if len(old) == len(new):
        return None
    longer = new if len(new) > len(old) else old
    return longer[min(len(old), len(new))][0]


def balance_changed(
    member_id: str,
    key: KeyId,
    before: KeyView | None,
    after: KeyView,
    *,
    first_affected: date | None,
    cause_event_id: str | None,
    position: int,
    reason: str,
) -> dict[str, Any]:
    """The data of a `balance.changed` (key_version is filled in when it is stored)."""
    return {
        "key": key_body(member_id, key),
        "key_version": 0,
        "previous": balance(before),
        "current": balance(after),
        "first_affected_period": first_affected.isoformat() if first_affected else None,
        "negative_accrual": negative_body(after),
        "cause_event_id": cause_event_id,
        "position": position,
        "as_of": after.as_of.isoformat(),
        "reason": reason,
    }


def flagged(member_id: str, change: KeyChange, flag: Flag) -> dict[str, Any]:
    """The data of an `accumulation.negative_accrual_flagged`."""
    negatives = [p for p in change.after.periods if p.balance < 0]
    deepest = max((-p.balance for p in negatives), default=Decimal(0))
    return {
        "key": key_body(member_id, change.key),
        "cause": flag.cause,
        "cause_event_id": flag.event_id,
        "position": flag.position,
        "period_start": negatives[0].start.isoformat() if negatives else None,
        "overuse": units_text(deepest),
    }


def from_change(member_id: str, change: KeyChange) -> list[tuple[str, dict[str, Any]]]:
    """The derived events of one key change: (type, data), possibly none."""
    events: list[tuple[str, dict[str, Any]]] = []
    first = first_affected_period(change.before, change.after)
    today = change.today  # the tenant's date when the event was recorded
    if first is not None:
        before = key_view(change.before, None, today) if change.before else None
        data = balance_changed(
            member_id,
            change.key,
            before,
            key_view(change.after, change.flag, today),
            first_affected=first,
            cause_event_id=change.event.event_id,
            position=change.event.position,
            reason="event",
        )
        events.append((BALANCE_CHANGED, data))
    if change.flagged and change.flag is not None:
        events.append((NEGATIVE_ACCRUAL_FLAGGED, flagged(member_id, change, change.flag)))
    return events
