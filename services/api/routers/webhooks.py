"""Webhook endpoints: register, list, change (pause, resume, retry schedule), rotate the
secret, delete, deliveries, redeliver (subscriber).

Delivery itself is the worker's (services/api/webhooks/worker.py); these endpoints only read
and change the tables it works from. Another tenant's webhook answers 404, as if absent. Secrets
are stored encrypted (services/api/webhooks/secret_box.py) and answered only when made.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response

from contracts.webhooks import (
    DeliveryList,
    RedeliveryOut,
    RotateIn,
    SecretRotated,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
)
from services.api.deps import Context, context, require, utc_now
from services.api.settings import Settings
from services.api.webhooks import store
from services.api.webhooks.backoff import RetryPolicy
from services.api.webhooks.secret_box import SecretBox
from services.api.webhooks.signing import new_secret
from services.api.webhooks.ssrf import UrlRefused, check_url
from services.api.webhooks.store import Endpoint
from services.ledger.codec import format_timestamp, parse_timestamp
from services.ledger.db import Connection
from services.ledger.errors import InvalidRequestError, NotFoundError, Problem
from services.ledger.keys import Principal
from services.projections.feed import DERIVED_TYPES, last_sequence

router = APIRouter(tags=["subscriptions"])
T = TypeVar("T")
# the derived event types of api.md (Subscriptions) and the alerts of accumulation.md 3
KNOWN_TYPES = DERIVED_TYPES
MAX_DELIVERIES = 1000


async def _with_connection(ctx: Context, work: Callable[[Connection], T]) -> T:
    def run() -> T:
        connection = ctx.database.connect()
        try:
            return work(connection)
        finally:
            connection.close()

    return await anyio.to_thread.run_sync(run)


def secret_box(request: Request) -> SecretBox:
    """The app's box for webhook secrets (made from the settings at start)."""
    box: SecretBox = request.app.state.webhook_secrets
    return box


def _instant(text: str | None) -> datetime | None:
    return parse_timestamp(text) if text is not None else None


def _out(endpoint: Endpoint, pending: int, now: datetime) -> dict[str, Any]:
    sending = endpoint.status == store.ACTIVE and pending > 0
    overlapping = len(endpoint.secrets.in_force(now)) > 1
    return {
        "id": endpoint.webhook_id,
        "url": endpoint.url,
        "types": list(endpoint.types),
        "status": endpoint.status,
        "status_reason": endpoint.status_reason,
        "created_at": parse_timestamp(endpoint.created_at),
        "retry": asdict(endpoint.retry),
        "delivery": {
            "consecutive_failures": endpoint.consecutive_failures,
            "last_success_at": _instant(endpoint.last_success_at),
            "last_failure_at": _instant(endpoint.last_failure_at),
            "pending": pending,
            "next_attempt_at": parse_timestamp(endpoint.next_attempt_at) if sending else None,
        },
        "previous_secret_expires_at": (
            _instant(endpoint.secrets.previous_expires_at) if overlapping else None
        ),
    }


def _shown(connection: Connection, endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint as answered, with its pending count read now."""
    return _out(endpoint, store.pending_count(connection, endpoint), utc_now())


def _checked_types(types: list[str] | None) -> list[str]:
    """Known types only: a misspelt type would otherwise match nothing, silently."""
    wanted = list(dict.fromkeys(types or []))
    unknown = [name for name in wanted if name not in KNOWN_TYPES]
    if unknown:
        raise InvalidRequestError(
            f"unknown derived event types; known: {', '.join(KNOWN_TYPES)}",
            [Problem(None, "types", f"unknown type {name!r}") for name in unknown],
        )
    return wanted


async def _check_url(url: str) -> None:
    """http(s) to a public address, unless the operator allows private ones (resolves the
    name, in a thread)."""
    allowed = Settings().allow_private_webhooks
    try:
        await anyio.to_thread.run_sync(lambda: check_url(url, allow_private=allowed))
    except UrlRefused as refused:
        raise InvalidRequestError(
            "the webhook URL is not allowed", [Problem(None, "url", str(refused))]
        ) from refused


def _not_found(webhook_id: str) -> NotFoundError:
    return NotFoundError(f"webhook {webhook_id!r} not found")


async def _endpoint(ctx: Context, tenant: str, webhook_id: str) -> Endpoint:
    found = await _with_connection(ctx, lambda c: store.get_webhook(c, tenant, webhook_id))
    if found is None:
        raise _not_found(webhook_id)
    return found


@router.post("/v1/webhooks", response_model=WebhookCreated, status_code=201)
async def create_webhook(
    body: WebhookIn,
    response: Response,
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
    box: SecretBox = Depends(secret_box),
) -> dict[str, Any]:
    """Register an endpoint. It receives the events after the tenant's last one now (no
    history), of the given types; the secret in the answer is never shown again."""
    types = _checked_types(body.types)
    await _check_url(body.url)
    webhook_id = f"wh_{uuid.uuid4().hex}"
    secret = new_secret()
    retry = RetryPolicy(**body.retry.model_dump())

    def work(connection: Connection) -> Endpoint:
        return store.create_webhook(
            connection,
            webhook_id=webhook_id,
            tenant=caller.tenant,
            url=body.url,
            types=types,
            secret=box.seal(secret),
            after=last_sequence(connection, caller.tenant),
            now=utc_now(),
            retry=retry,
        )

    endpoint = await _with_connection(ctx, work)
    response.headers["cache-control"] = "no-store"
    return {**_out(endpoint, 0, utc_now()), "secret": secret}


@router.get("/v1/webhooks", response_model=WebhookList)
async def list_webhooks(
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    def work(connection: Connection) -> list[dict[str, Any]]:
        return [_shown(connection, e) for e in store.list_webhooks(connection, caller.tenant)]

    return {"items": await _with_connection(ctx, work)}


@router.get("/v1/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(
    webhook_id: str,
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    return await _answer(ctx, webhook_id, lambda c: _current(c, caller.tenant, webhook_id))


def _apply(connection: Connection, tenant: str, webhook_id: str, body: WebhookPatch) -> bool:
    """The changes of a PATCH, in the caller's transaction; False when there is no such
    endpoint. A retry policy starting above its cap raises InvalidRequestError."""
    if body.retry is not None:
        change = body.retry
        try:
            policy = store.change_retry(
                connection,
                tenant,
                webhook_id,
                change.initial_seconds,
                change.max_seconds,
                change.max_attempts,
            )
        except ValueError as error:
            raise InvalidRequestError(
                "the retry schedule is not valid", [Problem(None, "retry", str(error))]
            ) from error
        if policy is None:
            return False
    elif store.get_webhook(connection, tenant, webhook_id) is None:
        return False
    now = utc_now()
    if body.status == store.ACTIVE:
        store.resume(connection, tenant, webhook_id, now)
    elif body.status == store.PAUSED:
        reason = f"paused through the API at {format_timestamp(now)}"
        store.pause(connection, tenant, webhook_id, reason)
    return True


@router.patch("/v1/webhooks/{webhook_id}", response_model=WebhookOut)
async def change_webhook(
    webhook_id: str,
    body: WebhookPatch,
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Pause or resume deliveries, or change the retry schedule (the fields given)."""

    def work(connection: Connection) -> dict[str, Any] | None:
        with connection.transaction(write=True):
            if not _apply(connection, caller.tenant, webhook_id, body):
                return None
        return _current(connection, caller.tenant, webhook_id)

    return await _answer(ctx, webhook_id, work)


def _current(connection: Connection, tenant: str, webhook_id: str) -> dict[str, Any] | None:
    """The endpoint as answered (with its delivery status), None when the tenant has none."""
    found = store.get_webhook(connection, tenant, webhook_id)
    return _shown(connection, found) if found is not None else None


async def _answer(
    ctx: Context, webhook_id: str, work: Callable[[Connection], dict[str, Any] | None]
) -> dict[str, Any]:
    """Run `work` on a connection; its None is the endpoint's 404."""
    shown = await _with_connection(ctx, work)
    if shown is None:
        raise _not_found(webhook_id)
    return shown


@router.post("/v1/webhooks/{webhook_id}/rotate-secret", response_model=SecretRotated)
async def rotate_secret(
    webhook_id: str,
    request: Request,
    response: Response,
    body: RotateIn | None = None,
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
    box: SecretBox = Depends(secret_box),
) -> dict[str, Any]:
    """A new secret, answered this once; deliveries are signed with the old one too for the
    overlap (default: the service's setting), then with the new one only."""
    settings: Settings = request.app.state.settings
    overlap_seconds = settings.webhook_secret_overlap_seconds
    if body is not None and body.overlap_seconds is not None:
        overlap_seconds = body.overlap_seconds
    secret = new_secret()
    until = utc_now() + timedelta(seconds=overlap_seconds) if overlap_seconds > 0 else None
    rotated = await _with_connection(
        ctx, lambda c: store.rotate_secret(c, caller.tenant, webhook_id, box.seal(secret), until)
    )
    if not rotated:
        raise _not_found(webhook_id)
    response.headers["cache-control"] = "no-store"
    return {"id": webhook_id, "secret": secret, "previous_secret_expires_at": until}


@router.delete("/v1/webhooks/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(
    webhook_id: str,
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> Response:
    """Stop deliveries and forget the endpoint and its delivery history."""
    deleted = await _with_connection(
        ctx, lambda c: store.delete_webhook(c, caller.tenant, webhook_id)
    )
    if not deleted:
        raise _not_found(webhook_id)
    return Response(status_code=204)


@router.get("/v1/webhooks/{webhook_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    webhook_id: str,
    limit: int = Query(100, ge=1, le=MAX_DELIVERIES),
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Every attempt, newest first."""
    await _endpoint(ctx, caller.tenant, webhook_id)
    items = await _with_connection(
        ctx, lambda c: store.list_deliveries(c, caller.tenant, webhook_id, limit)
    )
    return {"items": items}


@router.post(
    "/v1/webhooks/{webhook_id}/deliveries/{sequence}/redeliver",
    response_model=RedeliveryOut,
    status_code=202,
)
async def redeliver(
    webhook_id: str,
    sequence: int,
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Queue one more attempt at an event this endpoint was sent before (delivered or given
    up); a worker sends it soon, whatever the endpoint's retry backoff."""
    endpoint = await _endpoint(ctx, caller.tenant, webhook_id)
    if endpoint.status != store.ACTIVE:
        raise InvalidRequestError(
            f"the webhook is {endpoint.status}: resume it first",
            [Problem(None, "status", endpoint.status_reason or "")],
        )

    def work(connection: Connection) -> bool:
        if not store.was_attempted(connection, caller.tenant, webhook_id, sequence):
            return False
        store.queue_redelivery(connection, caller.tenant, webhook_id, sequence, utc_now())
        return True

    if not await _with_connection(ctx, work):
        raise NotFoundError(f"no delivery of sequence {sequence} to webhook {webhook_id!r}")
    return {"webhook_id": webhook_id, "sequence": sequence, "status": "queued"}
