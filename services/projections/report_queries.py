"""Reads behind the forecast, the status of keys, the utilization and authorized-vs-scheduled
reports and the members list (accumulation.md 2.15, 2.16): rows in, the pure core's answers out.

A key's status needs its lines and its payer's settings, which the stored key rows do not hold:
they are folded from the member's authorization and settings events alone (a few per key), as
known at `known_at`, instead of replaying the member's visits.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from services.ledger.codec import format_timestamp
from services.ledger.reader import to_event
from services.ledger.schema import LINE_EVENTS
from services.projections.core.accumulation import ZERO, KeyResult
from services.projections.core.facts import KeyId, MemberFacts
from services.projections.core.forecast import Forecast, forecast
from services.projections.core.member import Flag
from services.projections.core.serialize import key_from_body
from services.projections.core.status import KeyStatus, key_status
from services.projections.queries import (
    MemberState,
    key_state,
    ledger_head,
    member_state,
    one_view,
    position_of,
    tracking_position,
)
from services.projections.reads import Reader

_COLUMNS = "position, event_id, type, data, recorded_at, member_id"
_LINE_TYPES = LINE_EVENTS  # as the partial index ledger_events_member_lines says it
_SETTINGS_TYPES = "type IN ('payer.settings_changed', 'tenant.settings_changed')"


async def line_facts(
    reader: Reader, tenant: str, member_id: str | None, known_at: datetime | None
) -> dict[str, MemberFacts]:
    """Each member's lines and the tenant's payer settings as known at `known_at`: one member,
    or every member of the tenant (`member_id` None)."""
    # without known_at no time bound at all: `recorded_at <= ?` would make SQLite walk the
    # tenant's events by time instead of the member's lines by the partial index
    when, when_params = (
        ("recorded_at <= ? AND ", (format_timestamp(known_at),)) if known_at else ("", ())
    )
    own_sql = f"SELECT {_COLUMNS} FROM ledger_events WHERE tenant = ? AND {when}"
    params: tuple[Any, ...] = (tenant, *when_params)
    if member_id is None:
        own_sql += f"member_id IS NOT NULL AND {_LINE_TYPES} ORDER BY position"
    else:
        own_sql += f"member_id = ? AND {_LINE_TYPES} ORDER BY position"
        params = (*params, member_id)
    own = await reader.fetch(own_sql, params)
    tenant_wide = await reader.fetch(
        f"SELECT {_COLUMNS} FROM ledger_events WHERE tenant = ? AND {when}"
        f"member_id IS NULL AND {_SETTINGS_TYPES} ORDER BY position",
        (tenant, *when_params),
    )
    facts: dict[str, MemberFacts] = {}
    for row in own:
        facts.setdefault(row[5], MemberFacts(row[5]))
    for row in heapq.merge(own, tenant_wide, key=lambda row: int(row[0])):
        event = to_event(row[:5])
        targets = facts.values() if row[5] is None else (facts[row[5]],)
        for member in targets:
            member.apply(event)
    return facts


async def status_facts(
    reader: Reader, tenant: str, member_id: str, state: MemberState, known_at: datetime | None
) -> MemberFacts | None:
    """What a key's status (2.16) reads for one member: the facts of `state` when it was
    replayed anyway (known_at, explain), else the member's lines and settings alone."""
    if state.facts is not None:
        return state.facts
    return (await line_facts(reader, tenant, member_id, known_at)).get(member_id)


def status_of(facts: MemberFacts | None, result: KeyResult, as_of: date) -> KeyStatus:
    """The key's status (2.16) from the member's lines and the key's payer settings."""
    lines = facts.key_lines(result.key) if facts is not None else []
    assert lines, "a stored key has lines"
    assert facts is not None
    return key_status(lines, result, facts.settings_for(result.payer_id), as_of)


@dataclass(frozen=True)
class KeyForecast:
    forecast: Forecast
    status: KeyStatus
    position: int


async def key_forecast(
    reader: Reader,
    tenant: str,
    member_id: str,
    key: KeyId,
    as_of: date,
    window: int,
    known_at: datetime | None,
) -> KeyForecast:
    """One key's forecast (404 as the key's detail when it does not accumulate)."""
    state = await key_state(reader, tenant, member_id, key, known_at)
    view = one_view(state, key, as_of)
    facts = await status_facts(reader, tenant, member_id, state, known_at)
    result = view.result
    return KeyForecast(
        forecast(result, as_of, window), status_of(facts, result, as_of), state.position
    )


@dataclass(frozen=True)
class TenantKey:
    member_id: str
    result: KeyResult
    flag: Flag | None


async def tenant_keys(
    reader: Reader, tenant: str, known_at: datetime | None, accumulating_only: bool
) -> tuple[list[TenantKey], dict[str, dict[str, dict[str, Any]]], int]:
    """Every key of the tenant (by member, number, service code), every member's visit answers,
    and the position they reflect: the read model now, or replayed as known at `known_at`."""
    if known_at is None:
        position = await tracking_position(reader, tenant)
        sql = "SELECT member_id, body FROM accumulation_views WHERE tenant = ?"
        sql += " AND accumulates = 1" if accumulating_only else ""
        rows = await reader.fetch(sql, (tenant,))
        keys = []
        for member_id, body in rows:
            result, flag = key_from_body(orjson.loads(body))
            keys.append(TenantKey(member_id, result, flag))
        visits: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for member_id, visit_id, body in await reader.fetch(
            "SELECT member_id, visit_id, body FROM visit_views WHERE tenant = ?", (tenant,)
        ):
            visits[member_id][visit_id] = orjson.loads(body)
    else:
        position = await position_of(reader, tenant, known_at)
        members = await reader.fetch(
            "SELECT DISTINCT member_id FROM ledger_events WHERE tenant = ? "
            "AND member_id IS NOT NULL AND recorded_at <= ?",
            (tenant, format_timestamp(known_at)),
        )
        keys, visits = [], {}
        for (member_id,) in members:
            state = await member_state(reader, tenant, member_id, known_at)
            visits[member_id] = state.visits
            keys += [
                TenantKey(member_id, result, flag)
                for result, flag in state.keys.values()
                if result.accumulates or not accumulating_only
            ]
    keys.sort(key=lambda found: (found.member_id, found.result.key))
    return keys, visits, position


IN_FORCE = frozenset({"active", "expiring"})


async def utilization(
    reader: Reader, tenant: str, as_of: date, known_at: datetime | None
) -> tuple[list[tuple[TenantKey, Forecast, str]], int]:
    """Keys in force whose projection leaves units unused or runs out before the span ends."""
    keys, _, position = await tenant_keys(reader, tenant, known_at, accumulating_only=True)
    facts = await line_facts(reader, tenant, None, known_at)
    found = []
    for key in keys:
        status = status_of(facts.get(key.member_id), key.result, as_of).status
        if status not in IN_FORCE:
            continue
        projection = forecast(key.result, as_of)
        runs_out = projection.runs_out_on
        if projection.projected_unused > 0 or (
            runs_out is not None and runs_out <= key.result.span_end
        ):
            found.append((key, projection, status))
    return found, position


VISIT_STATUSES = ("scheduled", "confirmed", "missed")


def authorized_vs_scheduled_items(
    keys: list[TenantKey],
    visits: dict[str, dict[str, dict[str, Any]]],
    first: date,
    last: date,
) -> list[dict[str, Any]]:
    """Per key and period overlapping [first, last]: authorized units against the units of its
    visits by status (cancelled ones count nowhere); variance = authorized - scheduled -
    confirmed."""
    by_key: dict[tuple[str, str, str], list[tuple[date, str, Decimal]]] = defaultdict(list)
    for member_id, bodies in visits.items():
        for body in bodies.values():
            matched = body["key"]
            if matched is None or body["status"] not in VISIT_STATUSES:
                continue
            key = (member_id, matched["authorization_number"], matched["service_code"])
            day = date.fromisoformat(body["service_date"])
            by_key[key].append((day, body["status"], Decimal(body["units"])))
    items = []
    for found in keys:
        result = found.result
        key_visits = sorted(by_key.get((found.member_id, *result.key), []))
        days = [day for day, _, _ in key_visits]
        for period in result.periods:
            if period.start > last or period.end < first:
                continue
            totals = dict.fromkeys(VISIT_STATUSES, ZERO)
            low, high = bisect_left(days, period.start), bisect_right(days, period.end)
            for _, status, units in key_visits[low:high]:
                totals[status] += units
            items.append(
                {
                    "member_id": found.member_id,
                    "authorization_number": result.key[0],
                    "service_code": result.key[1],
                    "period": {"start": period.start, "end": period.end},
                    "authorized": period.authorized,
                    **totals,
                    "variance": period.authorized - totals["scheduled"] - totals["confirmed"],
                }
            )
    return items


def _like_pattern(search: str) -> str:
    """A substring pattern for LIKE ... ESCAPE '\\': the search's own % and _ match themselves."""
    escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class MembersPage:
    items: list[dict[str, Any]]
    position: int
    next_after: str | None


async def members_page(
    reader: Reader, dialect: str, tenant: str, after: str | None, limit: int, search: str | None
) -> MembersPage:
    """The tenant's members by id after `after`, at most `limit`, whose id contains `search`
    (case-insensitive for ASCII letters), each with its first and last ledger position, as of
    the tenant's head when the page is read."""
    # byte order on both stores: PostgreSQL's locale collation would order ids otherwise
    collate = ' COLLATE "C"' if dialect == "postgres" else ""
    position = await ledger_head(reader, tenant)
    sql = (
        "SELECT member_id, MIN(position), MAX(position) FROM ledger_events "
        "WHERE tenant = ? AND member_id IS NOT NULL AND position <= ?"
    )
    params: list[Any] = [tenant, position]
    if after is not None:
        sql += f" AND member_id{collate} > ?"
        params.append(after)
    if search:
        sql += " AND LOWER(member_id) LIKE ? ESCAPE '\\'"
        params.append(_like_pattern(search))
    sql += f" GROUP BY member_id ORDER BY member_id{collate} LIMIT {int(limit) + 1}"
    rows = await reader.fetch(sql, params)
    items = [
        {"member_id": member_id, "first_position": int(first), "last_position": int(last)}
        for member_id, first, last in rows[:limit]
    ]
    next_after = items[-1]["member_id"] if len(rows) > limit else None
    return MembersPage(items, position, next_after)
