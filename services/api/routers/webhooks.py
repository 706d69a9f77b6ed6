"""Webhook endpoints: register, list, delete, deliveries, redeliver (subscriber).

Delivery itself is the worker's (services/api/webhooks/worker.py); these endpoints only read
and change the tables it works from. Another tenant's webhook answers 404, as if absent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, Query, Response

from contracts.webhooks import (
    DeliveryList,
    RedeliveryOut,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
)
from services.api.deps import Context, context, require, utc_now
from services.api.settings import Settings
from services.api.webhooks import store
from services.api.webhooks.signing import new_secret
from services.api.webhooks.ssrf import UrlRefused, check_url
from services.api.webhooks.store import Endpoint
from services.ledger.codec import parse_timestamp
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


def _out(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.webhook_id,
        "url": endpoint.url,
        "types": list(endpoint.types),
        "status": endpoint.status,
        "status_reason": endpoint.status_reason,
        "created_at": parse_timestamp(endpoint.created_at),
    }


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


async def _endpoint(ctx: Context, tenant: str, webhook_id: str) -> Endpoint:
    found = await _with_connection(ctx, lambda c: store.get_webhook(c, tenant, webhook_id))
    if found is None:
        raise NotFoundError(f"webhook {webhook_id!r} not found")
    return found


@router.post("/v1/webhooks", response_model=WebhookCreated, status_code=201)
async def create_webhook(
    body: WebhookIn,
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Register an endpoint. It receives the events after the tenant's last one now (no
    history), of the given types; the secret in the answer is never shown again."""
    types = _checked_types(body.types)
    await _check_url(body.url)
    webhook_id = f"wh_{uuid.uuid4().hex}"

    def work(connection: Connection) -> Endpoint:
        return store.create_webhook(
            connection,
            webhook_id=webhook_id,
            tenant=caller.tenant,
            url=body.url,
            types=types,
            secret=new_secret(),
            after=last_sequence(connection, caller.tenant),
            now=utc_now(),
        )

    endpoint = await _with_connection(ctx, work)
    return {**_out(endpoint), "secret": endpoint.secret}


@router.get("/v1/webhooks", response_model=WebhookList)
async def list_webhooks(
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    found = await _with_connection(ctx, lambda c: store.list_webhooks(c, caller.tenant))
    return {"items": [_out(endpoint) for endpoint in found]}


@router.get("/v1/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(
    webhook_id: str,
    caller: Principal = Depends(require("subscriber")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    return _out(await _endpoint(ctx, caller.tenant, webhook_id))


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
        raise NotFoundError(f"webhook {webhook_id!r} not found")
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
            "the webhook is disabled", [Problem(None, "status", endpoint.status_reason or "")]
        )

    def work(connection: Connection) -> bool:
        if not store.was_attempted(connection, caller.tenant, webhook_id, sequence):
            return False
        store.queue_redelivery(connection, caller.tenant, webhook_id, sequence, utc_now())
        return True

    if not await _with_connection(ctx, work):
        raise NotFoundError(f"no delivery of sequence {sequence} to webhook {webhook_id!r}")
    return {"webhook_id": webhook_id, "sequence": sequence, "status": "queued"}
