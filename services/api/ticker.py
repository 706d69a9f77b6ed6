"""The period tick inside `serve`: runs `tick` every so often (the CLI runs it from cron)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
            result = await anyio.to_thread.run_sync(lambda: tick(ctx.database))
            if result.emitted_total:
                ctx.notifier.notify()
        except Exception:
            log.exception("the period tick failed; it runs again at the next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
