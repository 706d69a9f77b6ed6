"""The feed of derived events: long poll and Server-Sent Events (subscriber)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from contracts.subscriptions import FeedPage, StreamTokenIn, StreamTokenOut
from services.api.deps import Context, context, require, stream_principal
from services.ledger.errors import InfrastructureError, InvalidRequestError, Problem
from services.ledger.keys import Principal, stream_token
from services.projections.feed import as_json, read_feed

router = APIRouter(tags=["subscriptions"])
log = logging.getLogger("benefit_ledger.api")
FEED_POLL_SECONDS = 0.5  # readers look again this often for events written by other processes
MAX_WAIT_SECONDS = 60
MAX_LIMIT = 1000
STREAM_TOKEN_SECONDS = 600  # default life of a stream token; at most MAX_STREAM_TOKEN_SECONDS
MAX_STREAM_TOKEN_SECONDS = 3600


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


def _event(item: dict[str, Any]) -> dict[str, str]:
    """One frame's fields (EventSourceResponse frames them with its separator)."""
    body = json.dumps(as_json(item), separators=(",", ":"))
    return {"data": body, "event": item["type"], "id": str(item["sequence"])}


@router.post("/v1/feeds/stream-tokens", response_model=StreamTokenOut, status_code=201)
async def create_stream_token(
    body: StreamTokenIn | None = None,
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """A short-lived token that opens the event stream as this key, for a browser's
    `EventSource` (it cannot send an Authorization header):
    `new EventSource('/v1/feeds/events/stream?token=' + token)`. It opens the stream only, ends
    with the key (revoked or expired), and expires after `expires_in` seconds (default 600, at
    most 3600); a stream already open keeps running. Ask for a new one to reconnect later."""
    seconds = body.expires_in if body is not None else STREAM_TOKEN_SECONDS
    rows = await ctx.reader.fetch(
        "SELECT key_hash FROM api_keys WHERE key_id = ?", (caller.key_id,)
    )
    expires = int(time.time()) + seconds
    return {
        "token": stream_token(rows[0][0], caller.key_id, expires),
        "expires_at": datetime.fromtimestamp(expires, UTC),
    }


@router.get(
    "/v1/feeds/events/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    after: str | None = None,
    limit: str | None = None,
    types: str | None = None,
    token: str | None = None,
    caller: Principal = Depends(require("subscriber", stream_principal)),
    ctx: Context = Depends(context),
) -> EventSourceResponse:
    """Server-Sent Events from `Last-Event-ID` (or `after`), one event per derived event, `id`
    its sequence. An idle stream sends a comment every 15 s (BENEFIT_LEDGER_SSE_KEEPALIVE_SECONDS)
    so proxies keep it open, and it ends at once when the server shuts down (the client
    reconnects with Last-Event-ID). With `limit`, the stream ends after that many events. A
    browser authenticates with `token` (POST /v1/feeds/stream-tokens) instead of the header."""
    resume = request.headers.get("last-event-id")
    start = integer_param("Last-Event-ID" if resume else "after", resume or after, 0, 0, 2**62)
    total = integer_param("limit", limit, 0, 0, 2**31)
    wanted = _types(types)

    shutdown = anyio.Event()  # set by EventSourceResponse when the server shuts down

    async def events() -> AsyncIterator[dict[str, str]]:
        last, sent = start, 0
        while (not total or sent < total) and not shutdown.is_set():
            page = MAX_LIMIT if not total else min(MAX_LIMIT, total - sent)
            try:
                items = await read_feed(ctx.reader, caller.tenant, last, page, wanted)
            except InfrastructureError as error:
                # the answer began long ago: the stream ends, the client reconnects from its
                # Last-Event-ID (and is answered 503 until the database is back)
                log.warning("a feed stream ends: %s", error.message)
                return
            for item in items:
                yield _event(item)
            if items:
                last, sent = items[-1]["sequence"], sent + len(items)
                continue
            await ctx.notifier.wait(FEED_POLL_SECONDS)

    return EventSourceResponse(
        events(),
        ping=request.app.state.settings.sse_keepalive_seconds,
        shutdown_event=shutdown,
        shutdown_grace_period=2 * FEED_POLL_SECONDS,  # ends the stream cleanly, then exits
        sep="\n",  # as the stream always framed its events
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        ping_message_factory=lambda: ServerSentEvent(comment="keep-alive", sep="\n"),
    )
