"""Administration within a tenant: recalculation from the ledger and API keys."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends

from contracts.queries import ApiKeyIn, ApiKeyOut, RecalculateIn, RecalculateOut
from services.api.deps import Context, context, require, utc_now
from services.ledger.errors import NotFoundError
from services.ledger.keys import Principal, create_key
from services.projections.runner import members_of, recalculate

router = APIRouter(tags=["admin"])


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
    roles = list(dict.fromkeys(body.roles))
    key, key_id = await anyio.to_thread.run_sync(
        lambda: create_key(ctx.database, caller.tenant, roles, utc_now())
    )
    return {"key": key, "key_id": key_id, "tenant": caller.tenant, "roles": roles}
