"""GET /v1/ledger/events: the tenant's facts themselves, in position order, with their tags."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends

from contracts.queries import LedgerEventsPage
from services.api.deps import Context, context, require
from services.api.routers.feeds import integer_param
from services.ledger.codec import parse_timestamp
from services.ledger.keys import Principal
from services.projections.queries import ledger_head

router = APIRouter(tags=["ledger"])
MAX_LIMIT = 1000


@router.get("/v1/ledger/events", response_model=LedgerEventsPage)
async def ledger_events(
    after: str | None = None,
    limit: str | None = None,
    member_id: str | None = None,
    type: str | None = None,
    caller: Principal = Depends(require("reader")),
    ctx: Context = Depends(context),
) -> dict[str, Any]:
    """Events after position `after` (default 0), at most `limit` (default 100), of one member
    and one type when asked: an auditor's and a consumer's view of the ledger."""
    start = integer_param("after", after, 0, 0, 2**62)
    count = integer_param("limit", limit, 100, 1, MAX_LIMIT)
    head = await ledger_head(ctx.reader, caller.tenant)  # first: the page shows nothing after it
    sql = (
        "SELECT position, event_id, type, recorded_at, tags, data FROM ledger_events "
        "WHERE tenant = ? AND position > ? AND position <= ?"
    )
    params: list[Any] = [caller.tenant, start, head]
    if member_id is not None:
        sql += " AND member_id = ?"
        params.append(member_id)
    if type is not None:
        sql += " AND type = ?"
        params.append(type)
    rows = await ctx.reader.fetch(sql + f" ORDER BY position LIMIT {count}", params)
    items = [
        {
            "position": int(position),
            "id": event_id,
            "type": event_type,
            "recorded_at": parse_timestamp(recorded_at),
            "tags": json.loads(tags),
            "data": json.loads(data),
        }
        for position, event_id, event_type, recorded_at, tags, data in rows
    ]
    next_after = items[-1]["position"] if items else start
    return {"items": items, "next_after": next_after, "position": head}
