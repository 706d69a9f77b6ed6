"""GET /v1/members: the tenant's members, paginated by member id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from contracts.reports import MembersPage
from services.api.deps import Context, context, require
from services.api.routers.feeds import integer_param
from services.ledger.keys import Principal
from services.projections import report_queries

router = APIRouter(tags=["members"])
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@router.get("/v1/members", response_model=MembersPage)
async def list_members(
    after: str | None = Query(
        default=None, description="A member id: the page starts after it (`next_after`)."
    ),
    limit: str | None = Query(
        default=None, description=f"At most this many members: 1 to {MAX_LIMIT} (default 100)."
    ),
    search: str | None = Query(
        default=None,
        description="Only members whose id contains this text (case-insensitive for ASCII).",
    ),
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """The tenant's members by id, each with its first and last ledger position."""
    count = integer_param("limit", limit, DEFAULT_LIMIT, 1, MAX_LIMIT)
    page = await report_queries.members_page(
        ctx.reader, ctx.database.dialect, caller.tenant, after, count, search
    )
    return {"position": page.position, "items": page.items, "next_after": page.next_after}
