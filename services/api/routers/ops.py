"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse

from services.api.deps import Context, context
from services.ledger.schema import PROJECTION_NAME

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


async def _positions(ctx: Context) -> tuple[int, int, int]:
    """Events recorded, events the projections reflect, and tenants whose projections lag."""
    rows = await ctx.reader.fetch(
        "SELECT COALESCE(SUM(h.position), 0), COALESCE(SUM(COALESCE(t.position, 0)), 0), "
        "COALESCE(SUM(CASE WHEN COALESCE(t.position, 0) < h.position THEN 1 ELSE 0 END), 0) "
        "FROM ledger_heads h LEFT JOIN projection_tracking t "
        "ON t.tenant = h.tenant AND t.name = ?",
        (PROJECTION_NAME,),
    )
    recorded, projected, lagging = rows[0]
    return int(recorded), int(projected), int(lagging)


@router.get("/readyz")
async def readyz(ctx: Context = Depends(context)) -> JSONResponse:
    """Ready when the database answers and the projections are caught up with the ledger."""
    try:
        recorded, projected, lagging = await _positions(ctx)
    except Exception as error:  # any database failure means not ready; say which
        return JSONResponse({"status": "unavailable", "reason": str(error)}, status_code=503)
    lag = recorded - projected
    status = 200 if lag <= 0 else 503
    body = {
        "status": "ready" if status == 200 else "lagging",
        "events": recorded,
        "lag": lag,
        "tenants_lagging": lagging,
    }
    return JSONResponse(body, status_code=status)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(ctx: Context = Depends(context)) -> str:
    recorded, projected, lagging = await _positions(ctx)
    lines = [
        "# HELP benefit_ledger_events Events in the ledger, all tenants.",
        "# TYPE benefit_ledger_events gauge",
        f"benefit_ledger_events {recorded}",
        "# HELP benefit_ledger_projection_lag_events Events the projections do not reflect yet.",
        "# TYPE benefit_ledger_projection_lag_events gauge",
        f"benefit_ledger_projection_lag_events {recorded - projected}",
        "# HELP benefit_ledger_tenants_lagging Tenants whose projections are behind.",
        "# TYPE benefit_ledger_tenants_lagging gauge",
        f"benefit_ledger_tenants_lagging {lagging}",
    ]
    for name, value in sorted(ctx.counters.items()):
        lines += [
            f"# TYPE benefit_ledger_{name}_total counter",
            f"benefit_ledger_{name}_total {value}",
        ]
    return "\n".join(lines) + "\n"
