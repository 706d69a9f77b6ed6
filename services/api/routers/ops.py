"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse

from services.api.deps import Context, context
from services.projections.queries import tracking_position

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


async def _ledger_position(ctx: Context) -> int:
    rows = await ctx.reader.fetch("SELECT MAX(position) FROM ledger_events")
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


@router.get("/readyz")
async def readyz(ctx: Context = Depends(context)) -> JSONResponse:
    """Ready when the database answers and the projections are caught up with the ledger."""
    try:
        ledger = await _ledger_position(ctx)
        projected = await tracking_position(ctx.reader)
    except Exception as error:  # any database failure means not ready; say which
        return JSONResponse({"status": "unavailable", "reason": str(error)}, status_code=503)
    lag = ledger - projected
    status = 200 if lag <= 0 else 503
    body = {"status": "ready" if status == 200 else "lagging", "position": projected, "lag": lag}
    return JSONResponse(body, status_code=status)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(ctx: Context = Depends(context)) -> str:
    ledger = await _ledger_position(ctx)
    projected = await tracking_position(ctx.reader)
    lines = [
        "# HELP benefit_ledger_position Last ledger position.",
        "# TYPE benefit_ledger_position gauge",
        f"benefit_ledger_position {ledger}",
        "# HELP benefit_ledger_projection_position Last position the projections reflect.",
        "# TYPE benefit_ledger_projection_position gauge",
        f"benefit_ledger_projection_position {projected}",
    ]
    for name, value in sorted(ctx.counters.items()):
        lines += [
            f"# TYPE benefit_ledger_{name}_total counter",
            f"benefit_ledger_{name}_total {value}",
        ]
    return "\n".join(lines) + "\n"
