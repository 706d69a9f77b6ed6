"""Explain a key's balance: the ledger events that make it up, each with its effect (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.projections.core.accumulation import ZERO
from services.projections.core.facts import KeyId, LedgerEvent
from services.projections.core.member import MemberProjection
from services.projections.core.views import key_view


@dataclass(frozen=True)
class ExplainedEvent:
    event: LedgerEvent
    description: str
    raw_balance_before: Decimal
    raw_balance_after: Decimal


def _raw(projection: MemberProjection, key: KeyId, as_of: date) -> Decimal:
    result = projection.result.keys.get(key)
    if result is None:
        return ZERO
    return key_view(result, projection.flags.get(key), as_of).raw_balance


def _touches(
    projection: MemberProjection, key: KeyId, payer_id: str | None, event: LedgerEvent
) -> bool:
    data = event.data
    facts = projection.facts
    if event.type.startswith("authorization."):
        if "authorization_id" in data:
            line = facts.lines.get(data["authorization_id"])
            return line is not None and line.key == key
        return (data["authorization_number"], data["service_code"]) == key
    if event.type.startswith("visit."):
        return projection.result.matches.get(data["visit_id"]) == key
    if event.type == "payer.settings_changed":  # settings apply to the whole history
        return bool(data["payer_id"] == payer_id)
    return False


def describe(event: LedgerEvent) -> str:
    d = event.data
    kind = event.type
    if kind == "authorization.granted":
        return (
            f"grants {d['units']} units per {d['frequency']} "
            f"from {d['start_date']} to {d['end_date']}"
        )
    if kind == "authorization.amended":
        changes = ", ".join(f"{k} {d[k]}" for k in ("units", "start_date", "end_date") if k in d)
        return f"amends line {d['authorization_id']}: {changes}"
    if kind == "authorization.voided":
        return f"voids line {d['authorization_id']}: it grants 0 from now on"
    if kind == "authorization.service_removed":
        return f"removes service code {d['service_code']}: its lines grant 0"
    if kind == "payer.settings_changed":
        settings = {k: v for k, v in d.items() if k != "payer_id"}
        return f"changes payer settings {settings}: the whole history is replayed"
    visit = d["visit_id"]
    return {
        "visit.scheduled": f"schedules visit {visit} on {d.get('service_date')}",
        "visit.rescheduled": f"reschedules visit {visit}",
        "visit.confirmed": f"confirms visit {visit}",
        "visit.missed": f"marks visit {visit} missed",
        "visit.cancelled": f"cancels visit {visit}",
    }.get(kind, kind)


def explain(
    member_id: str, events: Iterable[LedgerEvent], key: KeyId, as_of: date
) -> tuple[MemberProjection, list[ExplainedEvent]]:
    """Step every event; keep those touching the key with the raw balance before and after."""
    events = list(events)
    payer_id = next(
        (
            e.data["payer_id"]
            for e in reversed(events)
            if e.type == "authorization.granted"
            and (e.data["authorization_number"], e.data["service_code"]) == key
        ),
        None,
    )
    projection = MemberProjection.empty(member_id)
    explained: list[ExplainedEvent] = []
    for event in events:
        before = _raw(projection, key, as_of)
        touched_before = _touches(projection, key, payer_id, event)
        projection.step(event)
        if touched_before or _touches(projection, key, payer_id, event):
            after = _raw(projection, key, as_of)
            explained.append(ExplainedEvent(event, describe(event), before, after))
    return projection, explained
