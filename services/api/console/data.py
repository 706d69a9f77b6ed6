"""What the console's pages show, read through the service's own queries (never over HTTP).

Each function answers one page for one tenant, as of a date and as known at a moment, with the
same query functions and answer shapes as the JSON API, so a page and the API never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.api.deps import Context, utc_now
from services.api.routers.accumulations import detail, summary
from services.ledger.codec import format_timestamp
from services.ledger.errors import LedgerError
from services.projections import benefit_queries, claim_queries, queries, report_queries
from services.projections.core.facts import LedgerEvent, MemberFacts

MEMBERS_PAGE = 50  # members listed per search
MOMENTS_SHOWN = 200  # ledger moments offered by the "as known at" control (the latest ones)
VISITS_SHOWN = 20  # recent visits on a member's page
LIKE_ESCAPE = "!"


@dataclass(frozen=True)
class MemberRow:
    member_id: str
    first_position: int
    last_position: int
    events: int


@dataclass(frozen=True)
class Moment:
    """One recorded time of the member's ledger: every event recorded then (one batch)."""

    recorded_at: datetime
    first_position: int
    last_position: int
    types: tuple[str, ...]

    @property
    def value(self) -> str:
        """The `known_at` that shows what was known right after this moment."""
        return format_timestamp(self.recorded_at)

    @property
    def label(self) -> str:
        positions = (
            f"position {self.last_position}"
            if self.first_position == self.last_position
            else f"positions {self.first_position}-{self.last_position}"
        )
        kinds = ", ".join(dict.fromkeys(self.types))
        return f"{self.value} · {positions} · {kinds}"


def _like(search: str) -> str:
    escaped = search.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped.lower()}%"


async def find_members(ctx: Context, tenant: str, search: str) -> list[MemberRow]:
    """The tenant's members whose id contains `search` (any case), by id."""
    rows = await ctx.reader.fetch(
        "SELECT member_id, MIN(position), MAX(position), COUNT(*) FROM ledger_events "
        "WHERE tenant = ? AND member_id IS NOT NULL AND LOWER(member_id) LIKE ? ESCAPE '!' "
        "GROUP BY member_id ORDER BY member_id LIMIT ?",
        (tenant, _like(search), MEMBERS_PAGE),
    )
    return [MemberRow(str(m), int(first), int(last), int(n)) for m, first, last, n in rows]


def group_moments(events: list[LedgerEvent]) -> list[Moment]:
    """The events grouped by recorded time, oldest first, the latest MOMENTS_SHOWN kept: a
    `known_at` between two events of one batch cannot exist, so a batch is one moment."""
    moments: list[Moment] = []
    for event in events:
        last = moments[-1] if moments else None
        if last is not None and last.recorded_at == event.recorded_at:
            moments[-1] = Moment(
                last.recorded_at, last.first_position, event.position, (*last.types, event.type)
            )
        else:
            moments.append(Moment(event.recorded_at, event.position, event.position, (event.type,)))
    return moments[-MOMENTS_SHOWN:]


async def member_moments(ctx: Context, tenant: str, member_id: str) -> list[Moment]:
    return group_moments(await queries.member_events(ctx.reader, tenant, member_id, None))


def _recent_visits(visits: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    ordered = sorted(visits.values(), key=lambda v: (v["service_date"], v["visit_id"]))
    return list(reversed(ordered))[:VISITS_SHOWN]


async def member_page(
    ctx: Context, tenant: str, member_id: str, as_of: date, known_at: datetime | None
) -> dict[str, Any]:
    """Accumulation keys, benefit limits, claims accumulators and recent visits of a member."""
    state = await queries.member_state(ctx.reader, tenant, member_id, known_at)
    found = await benefit_queries.member_benefits(ctx.reader, tenant, member_id, known_at)
    benefits = [benefit_queries.item(s) for s in benefit_queries.statuses(found.facts, as_of)]
    lines = (await report_queries.line_facts(ctx.reader, tenant, member_id, known_at)).get(
        member_id
    )
    return {
        "position": state.position,
        "keys": [
            summary(view, report_queries.status_of(lines, view.result, as_of))
            for view in queries.accumulating_views(state, as_of)
        ],
        "unauthorized": queries.unauthorized_visits(state),
        "benefits": benefits,
        "accumulators": await _accumulators(ctx, tenant, found.facts, as_of, known_at),
        "visits": _recent_visits(state.visits),
    }


async def _accumulators(
    ctx: Context, tenant: str, facts: MemberFacts, as_of: date, known_at: datetime | None
) -> dict[str, Any] | None:
    """The claims accumulators of the member's default plan with the as-of date as effective
    date, as GET .../accumulators answers them; None when the member has no plan."""
    if not facts.enrollments:
        return None
    chosen = claim_queries.Selection(as_of)
    try:
        rows = await claim_queries.rows_for(ctx.reader, tenant, facts, chosen, known_at)
    except LedgerError:
        return None
    position = await queries.position_of(ctx.reader, tenant, known_at)
    return claim_queries.answer(facts.member_id, chosen.day, position, rows)


async def key_page(
    ctx: Context,
    tenant: str,
    member_id: str,
    key: tuple[str, str],
    as_of: date,
    known_at: datetime | None,
) -> dict[str, Any]:
    """A key's periods (the contract's detail) and the events that made its balance."""
    view, explained, position = await queries.explain_key(
        ctx.reader, tenant, member_id, key, as_of, known_at
    )
    cause = view.negative_accrual.event_id if view.negative_accrual else None
    lines = (await report_queries.line_facts(ctx.reader, tenant, member_id, known_at)).get(
        member_id
    )
    status = report_queries.status_of(lines, view.result, as_of)
    return {
        **detail(view, status, known_at or utc_now(), position),
        "events": [
            {
                "position": item.event.position,
                "event_id": item.event.event_id,
                "type": item.event.type,
                "recorded_at": format_timestamp(item.event.recorded_at),
                "description": item.description,
                "raw_balance_before": item.raw_balance_before,
                "raw_balance_after": item.raw_balance_after,
                "cause": item.event.event_id == cause,
            }
            for item in explained
        ],
    }


async def exceeding_report(
    ctx: Context, tenant: str, as_of: date, known_at: datetime | None
) -> tuple[list[dict[str, Any]], int]:
    return await queries.exceeding(ctx.reader, tenant, as_of, known_at)


async def near_limit_report(
    ctx: Context, tenant: str, as_of: date, known_at: datetime | None, threshold: Decimal
) -> tuple[list[dict[str, Any]], int]:
    return await benefit_queries.near_limit(ctx.reader, tenant, as_of, known_at, threshold)
