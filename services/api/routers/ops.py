"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

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


# the stream the relay command publishes to unless told otherwise: its lag is shown even before
# a relay ran (a relay that never started lags by every derived event)
DEFAULT_RELAY_STREAM = "BENEFIT_LEDGER"


async def _relay_lag(ctx: Context) -> dict[str, int]:
    """Per relay stream, the derived events not yet acknowledged by it, all tenants. The last
    sequence per tenant is an index lookup (tenants are few, derived events many)."""
    rows = await ctx.reader.fetch(
        "SELECT n.name, COALESCE(SUM(d.last - COALESCE(c.sequence, 0)), 0) "
        "FROM (SELECT h.tenant, (SELECT MAX(e.sequence) FROM derived_events e "
        "WHERE e.tenant = h.tenant) AS last FROM ledger_heads h) d "
        "CROSS JOIN (SELECT DISTINCT name FROM relay_checkpoints UNION SELECT ?) n "
        "LEFT JOIN relay_checkpoints c ON c.tenant = d.tenant AND c.name = n.name "
        "WHERE d.last IS NOT NULL GROUP BY n.name",
        (DEFAULT_RELAY_STREAM,),
    )
    lag = {str(name): int(events) for name, events in rows}
    return lag or {DEFAULT_RELAY_STREAM: 0}


class _Scrape:
    """One scrape's figures as a prometheus-client collector (read from the database per scrape,
    so every process answers the same ledger-wide numbers)."""

    def __init__(self, figures: list[tuple[str, str, Gauge]], relay_lag: dict[str, int]) -> None:
        self.figures = figures
        self.relay_lag = relay_lag

    def collect(self) -> Iterator[Metric]:
        for name, description, value in self.figures:
            yield GaugeMetricFamily(f"benefit_ledger_{name}", description, value=value)
        relay = GaugeMetricFamily(
            "benefit_ledger_relay_lag_events",
            "Derived events the relay has not published yet, by stream, all tenants.",
            labels=["stream"],
        )
        for stream, events in sorted(self.relay_lag.items()):
            relay.add_metric([stream], events)
        yield relay


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(ctx: Context = Depends(context)) -> Response:
    """The ledger-wide figures of this scrape, then this process's own metrics."""
    recorded, projected, lagging, age_s = await _positions(ctx)
    relay_lag = await _relay_lag(ctx)
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
    registry.register(_Scrape(figures, relay_lag))
    registry.register(ctx.metrics.registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
