"""Explain a key's balance: the ledger events that make it up, each with its effect (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from services.projections.core.accumulation import ZERO
from services.projections.core.facts import KeyId, LedgerEvent, grant_codes
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
    if event.type == "accumulation.opening_balance":
        return (data["authorization_number"], data["service_code"]) == key
    if event.type.startswith("visit."):
        return projection.result.matches.get(data["visit_id"]) == key
    if event.type == "payer.settings_changed":  # settings apply to the whole history
        return bool(data["payer_id"] == payer_id)
    return False


_SETTING_WORDS = {  # payer setting -> (what it reads as when true, when false)
    "allow_accumulation": ("accumulation allowed", "accumulation not allowed"),
    "include_scheduled_units": ("scheduled units counted", "scheduled units not counted"),
    "exclude_missed_days": ("missed days excluded", "missed days not excluded"),
}


def _setting(name: str, value: object) -> str:
    """One payer setting as words: `accumulation allowed`, `weeks start on sunday`."""
    if name in _SETTING_WORDS and isinstance(value, bool):
        return _SETTING_WORDS[name][0 if value else 1]
    if name == "week_starts_on":
        return f"weeks start on {value}"
    if name == "renewal_days_before_end":
        return f"renewal notice {value} days before the end"
    if name == "renewal_used_fraction":
        return f"renewal notice once {value} of the units are used"
    if name == "authorization_required":
        listed = value if isinstance(value, list) else []
        codes = "every service code" if value == "all" else ", ".join(map(str, listed))
        return f"authorization required for {codes or 'no service code'}"
    return f"{name.replace('_', ' ')} {value}"


def _amendment(d: Mapping[str, Any]) -> str:
    words = {"units": "{} units", "start_date": "starts {}", "end_date": "ends {}"}
    return ", ".join(words[k].format(d[k]) for k in words if d.get(k) is not None)


def _visit(kind: str, d: Mapping[str, Any]) -> str:
    visit = d["visit_id"]
    units = f", {d['units']} units" if d.get("units") is not None else ""
    if d.get("clock_in") is not None:  # the units follow from the shift (2.12)
        units = f", clocked {d['clock_in']} to {d['clock_out']}"
    day = f" on {d['service_date']}" if d.get("service_date") is not None else ""
    moved = f" to {d['service_date']}" if d.get("service_date") is not None else ""
    return {
        "visit.scheduled": f"schedules visit {visit}{day}{units}",
        "visit.rescheduled": f"reschedules visit {visit}{moved}{units}",
        "visit.confirmed": f"confirms visit {visit}{day}{units}",
        "visit.missed": f"marks visit {visit} missed",
        "visit.cancelled": f"cancels visit {visit}",
    }.get(kind, kind)


def _caps(caps: list[dict[str, Any]] | None) -> str:
    """A line's pacing caps as words: `, at most 4 units a day on saturday, sunday` (2.14)."""
    if not caps:
        return ""
    words = [
        f"at most {cap['units']} units a {cap['per']}"
        + (f" on {', '.join(cap['days'])}" if cap.get("days") else "")
        for cap in caps
    ]
    return ", " + "; ".join(words)


def _billed(projection: MemberProjection, event: LedgerEvent) -> str:
    """A billing with the allocation it froze (2.11)."""
    d = event.data
    claim = f" on claim {d['claim_reference']}" if d.get("claim_reference") else ""
    visit = projection.facts.visits[d["visit_id"]]
    frozen = visit.billed.allocation if visit.billed else None
    if frozen is None:
        return f"bills visit {d['visit_id']}{claim}"
    regular, accumulated, unauthorized, capped = frozen
    over = f" ({capped} beyond a cap)" if capped > 0 else ""
    return (
        f"bills visit {d['visit_id']}{claim}: its allocation is frozen at {regular} regular, "
        f"{accumulated} accumulated, {unauthorized} unauthorized{over}"
    )


def describe(event: LedgerEvent) -> str:
    """The event's effect on a balance, as a sentence for people (no data structures)."""
    d = event.data
    kind = event.type
    if kind == "authorization.granted":
        pool = f" shared by {', '.join(d['service_codes'])}" if d.get("pool") else ""
        return (
            f"grants {d['units']} units per {d['frequency']}{pool} "
            f"from {d['start_date']} to {d['end_date']}{_caps(d.get('caps'))}"
        )
    if kind == "accumulation.opening_balance":
        reference = f" ({d['reference']})" if d.get("reference") else ""
        return (
            f"opens the balance at {d['balance']} for the period holding {d['as_of']}, "
            f"from {d['source']}{reference}: the key's visits up to that period's end are in it"
        )
    if kind == "authorization.amended":
        return f"amends line {d['authorization_id']}: {_amendment(d)}"
    if kind == "authorization.voided":
        return f"voids line {d['authorization_id']}: it grants 0 from now on"
    if kind == "authorization.service_removed":
        return f"removes service code {d['service_code']}: its lines grant 0"
    if kind == "payer.settings_changed":
        changes = "; ".join(
            _setting(k, v) for k, v in d.items() if k != "payer_id" and v is not None
        )
        payer = f"payer {d['payer_id']}" + (f" ({changes})" if changes else "")
        return f"changes the settings of {payer}: the whole history is replayed"
    return _visit(kind, d)


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
            and (e.data["authorization_number"], grant_codes(e.data)[0]) == key
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
            words = _billed(projection, event) if event.type == "visit.billed" else describe(event)
            explained.append(ExplainedEvent(event, words, before, after))
    return projection, explained
