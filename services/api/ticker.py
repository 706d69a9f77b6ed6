"""The period tick inside `serve`: runs `tick` every so often (the CLI runs it from cron)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import anyio

from services.projections.tick import tick

if TYPE_CHECKING:
    from services.api.deps import Context

log = logging.getLogger("benefit_ledger.tick")


async def tick_schedule(ctx: Context, interval: float, stop: asyncio.Event) -> None:
    """Tick now and then every `interval` seconds until `stop`; a failure is logged, not fatal."""
    while not stop.is_set():
        try:
            emitted = (await anyio.to_thread.run_sync(lambda: tick(ctx.database))).emitted_total
        except Exception:
            ctx.metrics.count_tick(None, time.time())
            log.exception("the period tick failed; it runs again at the next interval")
        else:
            ctx.metrics.count_tick(emitted, time.time())
            if emitted:
                log.info("the period tick emitted events", extra={"events_emitted": emitted})
                ctx.notifier.notify()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
