"""How tenant and payer settings, authorization, visit and opening-balance events fold into a
member's facts, and the table of every event's fold (pure; `benefit_claim_folds.py` holds the
benefit, coverage, schedule, enrollment and claim folds)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from services.projections.core import benefit_claim_folds
from services.projections.core.fact_types import Billed, Cap, Line, Opening, Visit
from services.projections.core.ledger_event import LedgerEvent
from services.projections.core.payer_settings import settings_after

if TYPE_CHECKING:
    from services.projections.core.facts import MemberFacts

Fold = Callable[["MemberFacts", LedgerEvent], None]
"""Folds one validated event into a member's facts."""


def _tenant_settings_changed(facts: MemberFacts, event: LedgerEvent) -> None:
    facts.time_zone = event.data.get("time_zone", facts.time_zone)


def _settings_changed(facts: MemberFacts, event: LedgerEvent) -> None:
    payer_id = event.data["payer_id"]
    settings = facts.settings[payer_id] = settings_after(facts.settings_for(payer_id), event.data)
    # units of clocked visits are a function of the ledger: the settings in force now apply to
    # every shift, as every other setting applies to the whole history (decision, 2.12)
    for visit in facts.visits.values():
        units = visit.clock_units(settings) if visit.payer_id == payer_id else None
        if units is not None:
            visit.units = units


def grant_codes(data: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A grant's key code (its service code or pool name) and the codes that draw from it."""
    if data.get("pool") is not None:
        return data["pool"], tuple(data["service_codes"])
    return data["service_code"], (data["service_code"],)


def _granted(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    code, codes = grant_codes(d)
    facts.lines[d["authorization_id"]] = Line(
        authorization_id=d["authorization_id"],
        authorization_number=d["authorization_number"],
        member_id=d["member_id"],
        payer_id=d["payer_id"],
        service_code=code,
        frequency=d["frequency"],
        units=event.amount("units"),
        start_date=event.day("start_date"),
        end_date=event.day("end_date"),
        caps=tuple(
            Cap(
                cap["per"],
                Decimal(cap["units"]),
                frozenset(cap["days"]) if cap.get("days") else None,
            )
            for cap in d.get("caps") or ()
        ),
        service_codes=codes,
    )


def _amended(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    line = facts.lines[d["authorization_id"]]
    if d.get("units") is not None:
        line.units = event.amount("units")  # 0 is an amount, not a missing one
    line.start_date = event.day_or_none("start_date") or line.start_date
    line.end_date = event.day_or_none("end_date") or line.end_date
    line.covered_from = min(line.start_date, line.covered_from or line.start_date)
    line.covered_to = max(line.end_date, line.covered_to or line.end_date)


def _voided(facts: MemberFacts, event: LedgerEvent) -> None:
    facts.lines[event.data["authorization_id"]].status = "voided"


def _service_removed(facts: MemberFacts, event: LedgerEvent) -> None:
    key = (event.data["authorization_number"], event.data["service_code"])
    for line in facts.key_lines(key):
        if line.active:
            line.status = "removed"


def _new_visit(facts: MemberFacts, event: LedgerEvent, status: str) -> Visit:
    d = event.data
    visit = Visit(
        visit_id=d["visit_id"],
        member_id=d["member_id"],
        payer_id=d["payer_id"],
        service_code=d["service_code"],
        service_date=event.day("service_date"),
        units=event.amount_or_none("units") or Decimal(0),
        authorization_number=d.get("authorization_number"),
        status=status,
        first_position=event.position,
        override=d.get("override"),
    )
    facts.visits[visit.visit_id] = visit
    _set_units(facts, visit, event)
    return visit


def _set_units(facts: MemberFacts, visit: Visit, event: LedgerEvent) -> None:
    """Units given outright replace clock times; clock times set the units from then on."""
    d = event.data
    if d.get("units") is not None:
        visit.units = event.amount("units")  # 0 is an amount, not a missing one
        visit.clock_in = visit.clock_out = None
    elif d.get("clock_in") is not None:
        visit.clock_in, visit.clock_out = d["clock_in"], d["clock_out"]
        units = visit.clock_units(facts.settings_for(visit.payer_id))
        assert units is not None
        visit.units = units


def _scheduled(facts: MemberFacts, event: LedgerEvent) -> None:
    _new_visit(facts, event, "scheduled").events.append(event.event_id)


def _rescheduled(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    visit = facts.visits[d["visit_id"]]
    visit.service_date = event.day_or_none("service_date") or visit.service_date
    _set_units(facts, visit, event)
    visit.events.append(event.event_id)


def _confirmed(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    visit = facts.visits.get(d["visit_id"])
    if visit is None:
        visit = _new_visit(facts, event, "confirmed")
    else:
        visit.status = "confirmed"
        visit.service_date = event.day_or_none("service_date") or visit.service_date
        _set_units(facts, visit, event)
        if d.get("override") is not None:
            visit.override = d["override"]
    visit.events.append(event.event_id)


def _opening_balance(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    key = (d["authorization_number"], d["service_code"])
    opening = Opening(event.day("as_of"), event.amount("balance"), event.event_id, event.position)
    facts.openings[key] = opening  # a later one replaces an earlier one (decision, 2.17)


def _status(status: str) -> Fold:
    def handler(facts: MemberFacts, event: LedgerEvent) -> None:
        visit = facts.visits[event.data["visit_id"]]
        visit.status = status
        visit.events.append(event.event_id)

    return handler


def _billed(facts: MemberFacts, event: LedgerEvent) -> None:
    visit = facts.visits[event.data["visit_id"]]
    # the frozen key and allocation are filled in by the member projection (2.11)
    visit.billed = Billed(event.position, event.data.get("claim_reference"))
    visit.events.append(event.event_id)


HANDLERS: dict[str, Fold] = {
    "accumulator.schedule_defined": benefit_claim_folds.schedule_defined,
    "member.enrolled": benefit_claim_folds.enrolled,
    "claim.adjudicated": benefit_claim_folds.claim_adjudicated,
    "claim.status_changed": benefit_claim_folds.claim_status_changed,
    "claim.adjusted": benefit_claim_folds.claim_adjusted,
    "claim.voided": benefit_claim_folds.claim_voided,
    "accumulator.opening_balance": benefit_claim_folds.opening_balance,
    "benefit.limit_defined": benefit_claim_folds.limit_defined,
    "benefit.limit_amended": benefit_claim_folds.limit_amended,
    "benefit.usage_verified": benefit_claim_folds.usage_verified,
    "coverage.started": benefit_claim_folds.coverage_started,
    "coverage.ended": benefit_claim_folds.coverage_ended,
    "tenant.settings_changed": _tenant_settings_changed,
    "payer.settings_changed": _settings_changed,
    "authorization.granted": _granted,
    "authorization.amended": _amended,
    "authorization.voided": _voided,
    "authorization.service_removed": _service_removed,
    "visit.scheduled": _scheduled,
    "visit.rescheduled": _rescheduled,
    "visit.confirmed": _confirmed,
    "visit.missed": _status("missed"),
    "visit.cancelled": _status("cancelled"),
    "visit.billed": _billed,
    "accumulation.opening_balance": _opening_balance,
}
