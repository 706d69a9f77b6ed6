"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from services.api.deps import Context, context, utc_now
from services.ledger.codec import parse_timestamp
from services.ledger.schema import PROJECTION_NAME

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


async def _positions(ctx: Context) -> tuple[int, int, int, float]:
    """Events recorded, events the projections reflect, tenants whose projections lag, and the
    age in seconds of the oldest event not reflected yet (0 when none)."""
    rows = await ctx.reader.fetch(
        "SELECT COALESCE(SUM(h.position), 0), COALESCE(SUM(COALESCE(t.position, 0)), 0), "
        "COALESCE(SUM(CASE WHEN COALESCE(t.position, 0) < h.position THEN 1 ELSE 0 END), 0) "
        "FROM ledger_heads h LEFT JOIN projection_tracking t "
        "ON t.tenant = h.tenant AND t.name = ?",
        (PROJECTION_NAME,),
    )
    recorded, projected, lagging = (int(value) for value in rows[0])
    age_s = 0.0
    if lagging:  # the first event after each lagging tenant's tracking position
        oldest = await ctx.reader.fetch(
            "SELECT MIN(e.recorded_at) FROM ledger_heads h LEFT JOIN projection_tracking t "
            "ON t.tenant = h.tenant AND t.name = ? JOIN ledger_events e "
            "ON e.tenant = h.tenant AND e.position = COALESCE(t.position, 0) + 1",
            (PROJECTION_NAME,),
        )
        if oldest and oldest[0][0] is not None:
            age_s = max(0.0, (utc_now() - parse_timestamp(oldest[0][0])).total_seconds())
    return recorded, projected, lagging, round(age_s, 3)


@router.get("/readyz")
async def readyz(ctx: Context = Depends(context)) -> JSONResponse:
    """Ready when the database answers and the projections are caught up with the ledger."""
    try:
        recorded, projected, lagging, age_s = await _positions(ctx)
    except Exception as error:  # any database failure means not ready; say which
        return JSONResponse({"status": "unavailable", "reason": str(error)}, status_code=503)
    lag = recorded - projected
    status = 200 if lag <= 0 else 503
    body = {
        "status": "ready" if status == 200 else "lagging",
        "events": recorded,
        "lag": lag,
        "lag_oldest_age_seconds": age_s,
        "tenants_lagging": lagging,
    }
    return JSONResponse(body, status_code=status)


Gauge = int | float  # event counts and seconds of lag: never units or money


class _Scrape:
    """One scrape's figures as a prometheus-client collector (read from the database per scrape,
    so every process answers the same ledger-wide numbers)."""

    def __init__(self, figures: list[tuple[str, str, Gauge]], counters: dict[str, int]) -> None:
        self.figures = figures
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        for name, description, value in self.figures:
            yield GaugeMetricFamily(f"benefit_ledger_{name}", description, value=value)
        for name, count in sorted(self.counters.items()):
            yield CounterMetricFamily(
                f"benefit_ledger_{name}", f"{name.replace('_', ' ')} by this process", value=count
            )


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(ctx: Context = Depends(context)) -> Response:
    recorded, projected, lagging, age_s = await _positions(ctx)
    registry = CollectorRegistry(auto_describe=False)
    figures: list[tuple[str, str, Gauge]] = [
        ("events", "Events in the ledger, all tenants.", recorded),
        (
            "projection_lag_events",
            "Events the projections do not reflect yet.",
            recorded - projected,
        ),
        ("tenants_lagging", "Tenants whose projections are behind.", lagging),
        ("projection_lag_seconds", "Age of the oldest event not reflected yet.", age_s),
    ]
    registry.register(_Scrape(figures, dict(ctx.counters)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
