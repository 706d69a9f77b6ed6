"""Administration within a tenant: its status, recalculation from the ledger and API keys."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends

from contracts.queries import (
    ApiKeyIn,
    ApiKeyInfo,
    ApiKeyList,
    ApiKeyOut,
    RecalculateIn,
    RecalculateOut,
    TenantStatusOut,
)
from services.api.deps import Context, context, require, utc_now
from services.ledger.errors import NotFoundError
from services.ledger.keys import Principal, create_key, list_keys, revoke_key
from services.projections.health import tenant_status
from services.projections.runner import members_of, recalculate

router = APIRouter(tags=["admin"])


@router.get("/v1/admin/status", response_model=TenantStatusOut)
async def status(
    caller: Principal = Depends(require("admin")), ctx: Context = Depends(context)
) -> dict[str, Any]:
    """The caller's tenant: its events, how far its read models lag and since when, and its
    derived events each relay stream has not published yet (/readyz and /metrics show no
    tenant's counts)."""
    found = await tenant_status(ctx.reader, caller.tenant, utc_now())
    return found.as_json()


@router.post("/v1/admin/recalculate", response_model=RecalculateOut)
async def recalculate_tenant(
    body: RecalculateIn | None = None,
    caller: Principal = Depends(require("admin")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    member_id = body.member_id if body else None

    def run() -> tuple[int, int]:
        connection = ctx.database.connect()
        try:
            if member_id is not None and (caller.tenant, member_id) not in members_of(
                connection, caller.tenant
            ):
                raise NotFoundError(f"member {member_id!r} not found")
            return recalculate(connection, caller.tenant, member_id)
        finally:
            connection.close()

    checked, corrected = await anyio.to_thread.run_sync(run)
    return {"checked": checked, "corrected": corrected}


@router.post("/v1/api-keys", response_model=ApiKeyOut, status_code=201)
async def create_api_key(
    body: ApiKeyIn,
    caller: Principal = Depends(require("admin")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """A new key of the caller's tenant; its secret is in this answer only."""
    roles = list(dict.fromkeys(body.roles))
    key, key_id = await anyio.to_thread.run_sync(
        lambda: create_key(
            ctx.database,
            caller.tenant,
            roles,
            utc_now(),
            name=body.name,
            expires_at=body.expires_at,
        )
    )
    return {
        "key": key,
        "key_id": key_id,
        "tenant": caller.tenant,
        "roles": roles,
        "name": body.name,
        "expires_at": body.expires_at,
    }


@router.get("/v1/api-keys", response_model=ApiKeyList)
async def list_api_keys(
    caller: Principal = Depends(require("admin")), ctx: Context = Depends(context)
) -> dict[str, Any]:
    """The tenant's keys (revoked and expired ones too), never their secrets."""

    def run() -> list[dict[str, Any]]:
        connection = ctx.database.connect()
        try:
            now = utc_now()
            return [record.as_json(now) for record in list_keys(connection, caller.tenant)]
        finally:
            connection.close()

    return {"items": await anyio.to_thread.run_sync(run)}


@router.delete("/v1/api-keys/{key_id}", response_model=ApiKeyInfo)
async def revoke_api_key(
    key_id: str,
    caller: Principal = Depends(require("admin")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Revoke a key of the tenant at once (every process refuses it from the next request);
    revoking it again changes nothing."""

    def run() -> dict[str, Any]:
        connection = ctx.database.connect()
        try:
            now = utc_now()
            record = revoke_key(connection, caller.tenant, key_id, now)
            if record is None:
                raise NotFoundError(f"API key {key_id!r} not found")
            return record.as_json(now)
        finally:
            connection.close()

    return await anyio.to_thread.run_sync(run)
