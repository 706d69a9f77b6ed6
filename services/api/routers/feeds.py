"""The feed of derived events: long poll and Server-Sent Events (subscriber)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from contracts.subscriptions import FeedPage
from services.api.deps import Context, context, require
from services.ledger.errors import InvalidRequestError, Problem
from services.ledger.keys import Principal
from services.projections.feed import as_json, read_feed

router = APIRouter(tags=["subscriptions"])
FEED_POLL_SECONDS = 0.5  # readers look again this often for events written by other processes
MAX_WAIT_SECONDS = 60
MAX_LIMIT = 1000
HEARTBEAT_SECONDS = 15.0


def integer_param(name: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise InvalidRequestError(
            f"{name} must be an integer from {low} to {high}",
            [Problem(None, name, f"got {value!r}")],
        )
    return number


def _types(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


@router.get("/v1/feeds/events", response_model=FeedPage)
async def feed(
    after: str | None = None,
    limit: str | None = None,
    wait: str | None = None,
    types: str | None = None,
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Derived events after `after`, in sequence order; with `wait`, a long poll that answers as
    soon as one exists (or empty when the wait is over)."""
    start = integer_param("after", after, 0, 0, 2**62)
    count = integer_param("limit", limit, 100, 1, MAX_LIMIT)
    seconds = integer_param("wait", wait, 0, 0, MAX_WAIT_SECONDS)
    wanted = _types(types)
    deadline = time.monotonic() + seconds
    while True:
        items = await read_feed(ctx.reader, caller.tenant, start, count, wanted)
        left = deadline - time.monotonic()
        if items or left <= 0:
            break
        await ctx.notifier.wait(min(left, FEED_POLL_SECONDS))
    return {"items": items, "next_after": items[-1]["sequence"] if items else start}


def _frame(item: dict[str, Any]) -> str:
    body = json.dumps(as_json(item), separators=(",", ":"))
    return f"id: {item['sequence']}\nevent: {item['type']}\ndata: {body}\n\n"


@router.get(
    "/v1/feeds/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    after: str | None = None,
    limit: str | None = None,
    types: str | None = None,
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> StreamingResponse:
    """Server-Sent Events from `Last-Event-ID` (or `after`), one event per derived event, `id`
    its sequence; a comment line every 15 s keeps proxies from closing an idle stream. With
    `limit`, the stream ends after that many events."""
    resume = request.headers.get("last-event-id")
    start = integer_param("Last-Event-ID" if resume else "after", resume or after, 0, 0, 2**62)
    total = integer_param("limit", limit, 0, 0, 2**31)
    wanted = _types(types)

    async def frames() -> AsyncIterator[str]:
        last, sent = start, 0
        idle_since = time.monotonic()
        yield "retry: 1000\n\n"
        while not total or sent < total:
            page = MAX_LIMIT if not total else min(MAX_LIMIT, total - sent)
            items = await read_feed(ctx.reader, caller.tenant, last, page, wanted)
            for item in items:
                yield _frame(item)
            if items:
                last, sent = items[-1]["sequence"], sent + len(items)
                idle_since = time.monotonic()
                continue
            if await request.is_disconnected():
                return
            if time.monotonic() - idle_since >= HEARTBEAT_SECONDS:
                yield ": keep-alive\n\n"
                idle_since = time.monotonic()
            await ctx.notifier.wait(FEED_POLL_SECONDS)

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
