"""The shell around the pure exports and reconciliation: reads the member's benefits and
accumulators through the existing queries, and records proposed events through the ledger."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from services.interop import fhir_cer, x12_parse
from services.interop.model import Line, Report, Snapshot
from services.interop.reconcile import Reconciliation, proposed_events, reconcile
from services.ledger.errors import InvalidRequestError, Problem
from services.ledger.group_commit import Ledger
from services.ledger.validation import validate_batch
from services.projections import benefit_queries, claim_queries
from services.projections.claim_queries import Selection
from services.projections.core.benefits import BenefitStatus
from services.projections.core.claims import Row
from services.projections.queries import member_events
from services.projections.reads import Reader

PLAN_SERVICE_TYPE = {"medical": "30", "dental": "35", "vision": "AL"}  # X12 EB03 of a plan


async def snapshot(
    reader: Reader,
    tenant: str,
    member_id: str,
    as_of: date,
    known_at: datetime | None,
    created: datetime,
) -> Snapshot:
    """The member's limits (as /benefits answers) and the deductible, out-of-pocket and day
    accumulators of every plan (as /accumulators?all_plans=true answers), as of one date."""
    found = await benefit_queries.member_benefits(reader, tenant, member_id, known_at)
    limits = [_limit_line(s) for s in benefit_queries.statuses(found.facts, as_of)]
    chosen = Selection(as_of, all_plans=True)
    rows = await claim_queries.rows_for(reader, tenant, found.facts, chosen, known_at)
    accumulators = [line for line in map(_row_line, rows) if line is not None]
    return Snapshot(member_id, as_of, found.position, created, (*limits, *accumulators))


def _limit_line(status: BenefitStatus) -> Line:
    limit = status.limit
    return Line(
        kind="limit",
        ident=limit.benefit_id,
        benefit_code=limit.benefit_code,
        payer_id=limit.payer_id,
        service_codes=tuple(sorted(limit.service_codes)),
        measure=limit.unit,  # type: ignore[arg-type]
        period_type=limit.period.type,
        period_start=status.period_start,
        period_end=status.period_end,
        limit=limit.limit,
        used=status.used,
        remaining=status.remaining,
    )


def _row_line(row: Row) -> Line | None:
    accumulator = row.accumulator
    if accumulator.type == "deductible":
        kind, measure = "deductible", "amount"
    elif accumulator.type == "maximum" and accumulator.kind == "out_of_pocket":
        kind, measure = "out_of_pocket", "amount"
    elif accumulator.type == "day":
        kind, measure = "day", "days"
    else:
        return None
    part = row.illness or row.tooth
    return Line(
        kind=kind,  # type: ignore[arg-type]
        ident=accumulator.code if part is None else f"{accumulator.code}/{part}",
        benefit_code=PLAN_SERVICE_TYPE.get(row.schedule.plan_type, "30"),
        payer_id="",
        service_codes=(),
        measure=measure,  # type: ignore[arg-type]
        period_type=row.schedule.period.type,
        period_start=row.period_start,
        period_end=row.period_end,
        limit=accumulator.amount,
        used=row.applied,
        remaining=row.remaining,
        level=accumulator.level,
        network=accumulator.network,
    )


def read_report(body: bytes, content_type: str | None) -> Report:
    """A 271 (text/plain, application/edi-x12) or a FHIR resource (JSON); by the content type,
    else by the body's first character."""
    kind = (content_type or "").split(";")[0].strip().lower()
    is_json = kind.endswith("json") or (not kind and body.lstrip()[:1] == b"{")
    if is_json:
        return fhir_cer.parse_response(body)
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as error:
        raise x12_parse.refused("not ASCII", [Problem(None, "body", str(error))]) from error
    return x12_parse.parse_271(text)


def check_member(report: Report, member_id: str) -> None:
    field = "NM109" if report.format == "x12-271" else "patient"
    if report.member_id != member_id:
        raise InvalidRequestError(
            "the report is for another member; nothing was recorded",
            [
                Problem(
                    None, field, f"the report names member {report.member_id!r}, not {member_id!r}"
                )
            ],
        )


def code_map(events: list[Any]) -> dict[str, str]:
    """Every payer's `benefit_code_map` (payer.settings_changed), later settings winning."""
    mapping: dict[str, str] = {}
    for event in events:
        if event.type == "payer.settings_changed" and event.data.get("benefit_code_map"):
            mapping.update(event.data["benefit_code_map"])
    return mapping


async def reconciliation(
    reader: Reader, tenant: str, member_id: str, body: bytes, content_type: str | None
) -> dict[str, Any]:
    """The answer without `recorded`: items, unmatched and the proposed events."""
    report = read_report(body, content_type)
    check_member(report, member_id)
    found = await benefit_queries.member_benefits(reader, tenant, member_id, None)
    events = await member_events(reader, tenant, member_id, None)
    statuses = benefit_queries.statuses(found.facts, report.as_of)
    result = reconcile(report, statuses, code_map(events))
    digest = hashlib.sha256(body).hexdigest()
    return {
        "member_id": member_id,
        "format": report.format,
        "as_of": report.as_of,
        "reference": report.reference,
        "position": found.position,
        **_answer(result),
        "proposed_events": proposed_events(report, result, tenant, member_id, digest),
        "recorded": [],
    }


def _answer(result: Reconciliation) -> dict[str, Any]:
    return {
        "items": [
            {
                "benefit_id": m.status.limit.benefit_id,
                "reported_used": m.reported.used,
                "ledger_used": m.status.used,
                "difference": m.difference,
            }
            for m in result.matches
        ],
        "unmatched": [
            {
                "index": u.reported.index,
                "kind": u.reported.kind,
                "name": u.reported.name,
                "codes": list(u.reported.codes),
                "reported_used": u.reported.used,
                "reason": u.reason,
            }
            for u in result.unmatched
        ],
    }


def record(
    ledger: Ledger, tenant: str, events: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Append the proposed events (blocking: run it off the event loop); a duplicate id with the
    same body is answered `duplicate`, so the same report twice records nothing new."""
    if not events:
        return []
    outcomes = ledger.append(
        tenant, validate_batch({"events": events}), may_override=False, now=now
    )
    return [
        {
            "id": o.event_id,
            "status": o.status,
            "position": o.position,
            "recorded_at": o.recorded_at,
            "warnings": o.warnings,
        }
        for o in outcomes
    ]
