"""What the console's pages show, read through the service's own queries (never over HTTP).

Each function answers one page for one tenant, as of a date and as known at a moment, with the
same query functions and answer shapes as the JSON API, so a page and the API never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from services.api.deps import Context, utc_now
from services.api.routers.accumulations import detail, summary
from services.ledger.codec import format_timestamp
from services.ledger.errors import LedgerError
from services.projections import benefit_queries, claim_queries, queries, report_queries
from services.projections.core.accumulation import KeyResult
from services.projections.core.facts import LedgerEvent, MemberFacts
from services.projections.core.forecast import DEFAULT_WINDOW, forecast, two_places
from services.projections.core.status import line_fraction_used

MEMBERS_PAGE = 50  # members listed per search
MOMENTS_SHOWN = 200  # ledger moments offered by the "as known at" control (the latest ones)
VISITS_SHOWN = 20  # recent visits on a member's page
LIKE_ESCAPE = "!"
HUNDREDTH = Decimal("0.01")  # a share of units used, as a report shows it


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
    return {
        "position": state.position,
        "keys": [
            summary(view, report_queries.status_of(found.facts, view.result, as_of))
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
    view, explained, state = await queries.explain_key(
        ctx.reader, tenant, member_id, key, as_of, known_at
    )
    position = state.position
    cause = view.negative_accrual.event_id if view.negative_accrual else None
    status = report_queries.status_of(state.facts, view.result, as_of)
    result = view.result
    return {
        **detail(view, status, known_at or utc_now(), position),
        "forecast": key_forecast(result, as_of) if result.accumulates else None,
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


def _two(value: Fraction | None) -> Decimal | None:
    return None if value is None else two_places(value)


async def utilization_report(
    ctx: Context, tenant: str, as_of: date, known_at: datetime | None
) -> tuple[list[dict[str, Any]], int]:
    """Keys in force whose units will be left over or run out (2.15), as the API answers."""
    found, position = await report_queries.utilization(ctx.reader, tenant, as_of, known_at)
    return [
        {
            "member_id": key.member_id,
            "authorization_number": key.result.key[0],
            "service_code": key.result.key[1],
            "span_start": key.result.span_start,
            "span_end": key.result.span_end,
            "status": status,
            "burn_rate": _two(projection.burn_rate),
            "projected_unused": two_places(projection.projected_unused),
            "runs_out_on": projection.runs_out_on,
        }
        for key, projection, status in found
    ], position


async def renewals_report(
    ctx: Context, tenant: str, as_of: date, known_at: datetime | None
) -> tuple[list[dict[str, Any]], int]:
    """Keys whose status is `expiring` (2.16): new paperwork is due. Each with its expiring
    line that ends first, the days left to that end and the share of its units used (the
    figures `authorization.renewal_due` is decided by)."""
    keys, _, position = await report_queries.tenant_keys(
        ctx.reader, tenant, known_at, accumulating_only=False
    )
    facts = await report_queries.line_facts(ctx.reader, tenant, None, known_at)
    items = []
    for key in keys:
        member = facts.get(key.member_id)
        status = report_queries.status_of(member, key.result, as_of)
        if status.status != "expiring" or member is None:
            continue
        lines = {line.authorization_id: line for line in member.key_lines(key.result.key)}
        expiring = min(
            (line for line in status.lines if line.status == "expiring"),
            key=lambda line: (line.end, line.authorization_id),
        )
        share = line_fraction_used(lines[expiring.authorization_id], key.result, as_of)
        items.append(
            {
                "member_id": key.member_id,
                "authorization_number": key.result.key[0],
                "service_code": key.result.key[1],
                "payer_id": key.result.payer_id,
                "line": expiring.authorization_id,
                "line_end": expiring.end,
                "days_left": (expiring.end - as_of).days,
                "share_used": None if share is None else share.quantize(HUNDREDTH, ROUND_HALF_UP),
            }
        )
    return items, position


async def authorized_vs_scheduled_report(
    ctx: Context, tenant: str, first: date, last: date, known_at: datetime | None
) -> tuple[list[dict[str, Any]], int]:
    """Per key and period overlapping [first, last]: authorized against booked and done."""
    keys, visits, position = await report_queries.tenant_keys(
        ctx.reader, tenant, known_at, accumulating_only=False
    )
    items = report_queries.authorized_vs_scheduled_items(keys, visits, first, last)
    return items, position


@dataclass(frozen=True)
class KeyForecast:
    """Will the key's units last? (2.15), with the API's default window."""

    burn_rate: Decimal | None
    projected_balance: Decimal
    projected_unused: Decimal
    runs_out_on: date | None
    span_end: date
    window: int


def key_forecast(result: KeyResult, as_of: date) -> KeyForecast:
    projection = forecast(result, as_of, DEFAULT_WINDOW)
    return KeyForecast(
        _two(projection.burn_rate),
        two_places(projection.projected_balance),
        two_places(projection.projected_unused),
        projection.runs_out_on,
        result.span_end,
        DEFAULT_WINDOW,
    )
