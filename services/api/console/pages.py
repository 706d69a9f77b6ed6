"""The console's member pages: search, a member's balances, a key's timeline."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from services.api.console import data
from services.api.console.auth import Viewer, viewer
from services.api.console.chart import ChartPeriod, timeline_chart
from services.api.console.render import TimeChoice, page, time_choice
from services.api.deps import Context, context

router = APIRouter()


@router.get("/", include_in_schema=False)
async def members(
    request: Request,
    q: str = "",
    who: Viewer = Depends(viewer),
    ctx: Context = Depends(context),
) -> HTMLResponse:
    """Find a member by id (any part of it); the first MEMBERS_PAGE matches."""
    found = await data.find_members(ctx, who.tenant, q.strip())
    return page(
        request,
        "members.html",
        who=who,
        q=q,
        members=found,
        limit=data.MEMBERS_PAGE,
        footer={"as_of": None, "known_at": "now", "position": None},
    )


@router.get("/members/{member_id}", include_in_schema=False)
async def member(
    request: Request,
    member_id: str,
    as_of: str | None = None,
    known_at: str | None = None,
    who: Viewer = Depends(viewer),
    ctx: Context = Depends(context),
) -> HTMLResponse:
    """Keys, benefit limits, claims accumulators and recent visits, as of and as known at."""
    chosen = await time_choice(ctx, who.tenant, as_of, known_at)
    moments = await data.member_moments(ctx, who.tenant, member_id)
    shown = await data.member_page(ctx, who.tenant, member_id, chosen.as_of, chosen.known_at)
    return page(
        request,
        "member.html",
        who=who,
        member_id=member_id,
        chosen=chosen,
        moments=moments,
        shown=shown,
        footer=_footer(chosen, shown["position"]),
    )


@router.get(
    "/members/{member_id}/keys/{authorization_number}/{service_code}", include_in_schema=False
)
async def key_timeline(
    request: Request,
    member_id: str,
    authorization_number: str,
    service_code: str,
    as_of: str | None = None,
    known_at: str | None = None,
    who: Viewer = Depends(viewer),
    ctx: Context = Depends(context),
) -> HTMLResponse:
    """The key's chart, its periods and the events that made its balance (`explain`)."""
    chosen = await time_choice(ctx, who.tenant, as_of, known_at)
    moments = await data.member_moments(ctx, who.tenant, member_id)
    key = (authorization_number, service_code)
    shown = await data.key_page(ctx, who.tenant, member_id, key, chosen.as_of, chosen.known_at)
    chart = timeline_chart(
        [
            ChartPeriod(p["start"], p["end"], p["authorized"], p["used"], p["balance"])
            for p in shown["periods"]
        ],
        title=f"{authorization_number} / {service_code}: authorized, used and balance by period",
    )
    return page(
        request,
        "key.html",
        who=who,
        member_id=member_id,
        key=key,
        chosen=chosen,
        moments=moments,
        shown=shown,
        chart=Markup(chart.svg),  # built from numbers and escaped text only (chart.py)
        below_zero=sum(1 for p in shown["periods"] if p["balance"] < Decimal(0)),
        footer=_footer(chosen, shown["position"]),
    )


def _footer(chosen: TimeChoice, position: int) -> dict[str, object]:
    """What a printout must say to be evidence: the date, the moment and the ledger position."""
    return {"as_of": chosen.as_of, "known_at": chosen.known_at_label, "position": position}
