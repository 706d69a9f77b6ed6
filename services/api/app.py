"""The FastAPI application: routers, error mapping and the shared context."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from services.api import console, docs, errors, openapi
from services.api.deps import Context
from services.api.limits import BodyLimit, known_query_parameters
from services.api.middleware import RequestObservability
from services.api.routers import (
    accumulations,
    admin,
    benefits,
    claims_accumulators,
    eligibility,
    events,
    feeds,
    home,
    ledger,
    members,
    ops,
    reports,
    visits,
    webhooks,
)
from services.api.settings import Settings
from services.api.ticker import tick_schedule
from services.api.version import package_version
from services.api.webhooks.secret_box import seal_stored_secrets, secret_box
from services.api.webhooks.worker import WebhookWorker
from services.ledger.db import Database
from services.ledger.group_commit import Ledger
from services.projections.inline import InlineProjector
from services.projections.reads import make_reader


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or Settings()
    database = Database(settings.database_url)
    webhook_secrets = secret_box(settings)  # refuses PostgreSQL without BENEFIT_LEDGER_SECRET_KEY
    if migrate:
        database.migrate()
        seal_stored_secrets(database, webhook_secrets)  # plaintext of earlier releases
    ctx = Context(
        database,
        Ledger(database, InlineProjector()),
        make_reader(
            database, settings.postgres_read_pool_size, settings.postgres_acquire_timeout_seconds
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.notifier.bind(asyncio.get_running_loop())
        stop = asyncio.Event()
        tasks = []
        if settings.delivery_workers:
            worker = WebhookWorker(database, secrets=webhook_secrets, metrics=ctx.metrics)
            tasks.append(asyncio.create_task(worker.run(stop)))
            if settings.tick_interval_seconds > 0:
                tasks.append(
                    asyncio.create_task(tick_schedule(ctx, settings.tick_interval_seconds, stop))
                )
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await ctx.reader.close()

    app = FastAPI(
        title="benefit-ledger",
        version=package_version(),
        description="An append-only ledger of benefit usage with as-of and known-at balances.",
        lifespan=lifespan,
        dependencies=[Depends(known_query_parameters)],
        docs_url=None,  # served by services/api/docs.py from installed files, not a CDN
        redoc_url=None,
    )
    app.state.context = ctx
    app.state.settings = settings
    app.state.webhook_secrets = webhook_secrets
    errors.install(app)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, cookie_prefix=console.PREFIX + "/"
    )
    app.add_middleware(RequestObservability, metrics=ctx.metrics)  # outermost: sees the 413s
    routers = (
        events,
        accumulations,
        benefits,
        claims_accumulators,
        visits,
        reports,
        members,
        admin,
    )
    for module in (*routers, eligibility, ledger, feeds, webhooks, ops):
        app.include_router(module.router)
    app.include_router(home.router)
    docs.install(app)
    openapi.install(app)
    console.install(app, ctx)  # the browser console at /console/, its own pages and errors
    return app
