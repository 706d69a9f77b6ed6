"""Operations without a key: liveness, readiness and Prometheus metrics.

They show health, not volume: whether the database answers, how many tenants lag and for how
long, never a count of events (ledger-wide or a tenant's; services/projections/health.py says
why). A tenant's own counts are behind its admin key: GET /v1/admin/status.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from services.api.deps import Context, context, utc_now
from services.api.errors import RETRY_AFTER_SECONDS
from services.api.settings import Settings
from services.ledger.errors import InfrastructureError
from services.projections.health import ProjectionLag, projection_lag, relay_lag_ages

router = APIRouter(tags=["operations"])
log = logging.getLogger("benefit_ledger.api")
NOT_READY_HEADERS = {"Retry-After": str(RETRY_AFTER_SECONDS)}


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    """Liveness: the process answers. Never asks the database (restarting the process would
    not bring the database back)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, ctx: Context = Depends(context)) -> JSONResponse:
    """Ready when the database answers and the projections are caught up with the ledger within
    BENEFIT_LEDGER_READY_MAX_LAG_SECONDS; else 503 saying which: `unavailable` (the database)
    or `lagging` (the projections).

    Only the projections count: the API answers from them. The relay and the webhook worker
    feed other systems; a relay that was never deployed, or a receiver that is down, must not
    take the API out of service (/metrics shows their lag)."""
    settings: Settings = request.app.state.settings
    bound_seconds = settings.ready_max_lag_seconds
    try:
        lag = await projection_lag(ctx.reader, utc_now())
    except InfrastructureError as error:
        log.warning("not ready: %s", error.message)
        unavailable = {"status": "unavailable", "reason": "database unreachable"}
        return JSONResponse(unavailable, status_code=503, headers=NOT_READY_HEADERS)
    if not lag.tenants_lagging:
        return JSONResponse({"status": "ready"})
    body: dict[str, Any] = {
        "status": "ready",
        "tenants_lagging": lag.tenants_lagging,
        "lag_oldest_age_seconds": lag.oldest_age_seconds,
        "max_lag_seconds": bound_seconds,
    }
    if lag.within(bound_seconds):
        return JSONResponse(body)
    body.update(status="lagging", reason="projections lagging")
    return JSONResponse(body, status_code=503, headers=NOT_READY_HEADERS)


Gauge = int | float  # seconds, counts of tenants, 0 or 1: never events, units or money


class _Scrape:
    """One scrape's figures as a prometheus-client collector (read from the database per scrape,
    so every process answers the same numbers)."""

    def __init__(self, figures: list[tuple[str, str, Gauge]], relay_ages: dict[str, float]) -> None:
        self.figures = figures
        self.relay_ages = relay_ages

    def collect(self) -> Iterator[Metric]:
        for name, description, value in self.figures:
            yield GaugeMetricFamily(f"benefit_ledger_{name}", description, value=value)
        if not self.relay_ages:
            return
        relay = GaugeMetricFamily(
            "benefit_ledger_relay_lag_seconds",
            "Age of the oldest derived event the relay has not published yet, by stream, "
            "all tenants (0 when none).",
            labels=["stream"],
        )
        for stream, seconds in sorted(self.relay_ages.items()):
            relay.add_metric([stream], seconds)
        yield relay


async def _ledger_figures(ctx: Context) -> tuple[list[tuple[str, str, Gauge]], dict[str, float]]:
    """The figures read from the database; only `database_up 0` when it does not answer."""
    now = utc_now()
    try:
        lag: ProjectionLag = await projection_lag(ctx.reader, now)
        relay_ages = await relay_lag_ages(ctx.reader, now)
        stopped = await ctx.reader.fetch(
            "SELECT COUNT(*) FROM webhooks WHERE status IN ('paused', 'disabled')"
        )
    except InfrastructureError as error:
        log.warning("metrics without the database: %s", error.message)
        return [("database_up", "Whether the database answered this scrape.", 0)], {}
    figures: list[tuple[str, str, Gauge]] = [
        ("database_up", "Whether the database answered this scrape.", 1),
        ("tenants_lagging", "Tenants whose projections are behind.", lag.tenants_lagging),
        (
            "projection_lag_seconds",
            "Age of the oldest event the projections do not reflect yet (0 when none).",
            lag.oldest_age_seconds,
        ),
        (
            "webhooks_stopped",
            "Webhook endpoints not delivering: paused after their retries or by hand, or "
            "disabled by a 410 (all tenants; GET /v1/webhooks shows a tenant's own).",
            int(stopped[0][0]),
        ),
    ]
    return figures, relay_ages


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(ctx: Context = Depends(context)) -> Response:
    """The figures read from the database at this scrape, then this process's own metrics.
    Answered 200 while the database is down too (`benefit_ledger_database_up 0`), so the
    process's series (its 503s among them) stay visible during an outage."""
    figures, relay_ages = await _ledger_figures(ctx)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(figures, relay_ages))
    registry.register(ctx.metrics.registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
