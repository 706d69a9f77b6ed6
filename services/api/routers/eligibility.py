"""Eligibility in the payers' languages (accumulation.md section 5): a member's benefits as an
X12 271 or a FHIR CoverageEligibilityResponse, and a payer's report reconciled with the ledger."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response

from contracts.interop import PayerReportJson, ReconcileOut
from services.api.deps import Context, context, parse_known_at, require, tenant_as_of, utc_now
from services.api.openapi import documented_body
from services.interop import queries
from services.interop.fhir_cer import build_response, fhir_json
from services.interop.x12_build import build_271
from services.ledger.errors import ForbiddenError
from services.ledger.keys import Principal

router = APIRouter(tags=["eligibility"])
# read by the route itself: a FHIR resource as JSON, or an X12 271 as text
_REPORT_BODY = documented_body(PayerReportJson)
_REPORT_BODY["requestBody"]["content"]["application/fhir+json"] = _REPORT_BODY["requestBody"][
    "content"
]["application/json"]
_REPORT_BODY["requestBody"]["content"]["text/plain"] = {
    "schema": {"type": "string", "description": "an X12 271 interchange (005010X279A1)"}
}


@router.get(
    "/v1/members/{member_id}/eligibility/x12-271",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "an X12 271 interchange"}},
)
async def x12_271(
    member_id: str,
    as_of: str | None = None,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> Response:
    """The member's benefit limits and deductible, out-of-pocket and day accumulators as of a
    date, as an X12 271 (005010X279A1): one 2110C loop per line with EB limit, used, remaining;
    the ledger position in 2100C `REF*ZZ`."""
    day = await tenant_as_of(ctx, caller.tenant, as_of)
    moment = parse_known_at(known_at)
    found = await queries.snapshot(
        ctx.reader, caller.tenant, member_id, day, moment, moment or utc_now()
    )
    return Response(build_271(found), media_type="text/plain; charset=us-ascii")


@router.get(
    "/v1/members/{member_id}/fhir/CoverageEligibilityResponse",
    response_class=Response,
    responses={200: {"content": {"application/fhir+json": {}}}},
)
async def coverage_eligibility_response(
    member_id: str,
    as_of: str | None = None,
    known_at: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> Response:
    """The same figures as a FHIR R4 CoverageEligibilityResponse; the ledger position is its
    identifier in the system `urn:benefit-ledger:ledger-position`."""
    day = await tenant_as_of(ctx, caller.tenant, as_of)
    moment = parse_known_at(known_at)
    found = await queries.snapshot(
        ctx.reader, caller.tenant, member_id, day, moment, moment or utc_now()
    )
    return Response(fhir_json(build_response(found)), media_type="application/fhir+json")


@router.post(
    "/v1/members/{member_id}/eligibility/reconcile",
    response_model=ReconcileOut,
    openapi_extra=_REPORT_BODY,
)
async def reconcile(
    member_id: str,
    request: Request,
    record: bool = Query(
        default=False,
        description="Record the proposed events (writer role); false answers without storing.",
    ),
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """A payer's X12 271 (text/plain) or FHIR CoverageEligibilityResponse (JSON) compared with
    the ledger: reported vs ledger used per matched benefit, what could not be matched, and the
    `benefit.usage_verified` events that would align the ledger, recorded with record=true
    (writer role)."""
    if record and not caller.has("writer"):
        raise ForbiddenError("record=true needs the writer role")
    body = await request.body()  # bounded by BodyLimit (413) while it arrives
    answer = await queries.reconciliation(
        ctx.reader, caller.tenant, member_id, body, request.headers.get("content-type")
    )
    if record and answer["proposed_events"]:
        events = answer["proposed_events"]
        answer["recorded"] = await anyio.to_thread.run_sync(
            lambda: queries.record(ctx.ledger, caller.tenant, events, utc_now())
        )
    return answer
