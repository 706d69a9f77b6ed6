"""The read side's answers: from the stored read model, or replayed from the ledger for known_at.

Async over a `Reader`; CPU-heavy replays run in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import anyio
import orjson

from services.ledger.codec import format_timestamp
from services.ledger.errors import NotFoundError
from services.ledger.reader import to_event
from services.ledger.schema import PROJECTION_NAME
from services.projections.core.accumulation import KeyResult
from services.projections.core.explain import ExplainedEvent, explain
from services.projections.core.facts import DEFAULT_TIME_ZONE, KeyId, LedgerEvent, MemberFacts
from services.projections.core.member import Flag, MemberProjection
from services.projections.core.serialize import key_from_body, visit_bodies
from services.projections.core.views import (
    CheckResult,
    KeyView,
    key_view,
    review,
    scheduling_check,
)
from services.projections.reads import Reader
from services.projections.runner import replay

_EVENT_COLUMNS = "position, event_id, type, data, recorded_at"


@dataclass(frozen=True)
class MemberState:
    """A member's keys and visits (read model or replay) and the position they reflect."""

    member_id: str
    position: int
    keys: dict[KeyId, tuple[KeyResult, Flag | None]]
    visits: dict[str, dict[str, Any]]
    # the member's facts when the state was replayed (known_at): what the key status reads
    facts: MemberFacts | None = None


async def tracking_position(reader: Reader, tenant: str) -> int:
    """The tenant's last ledger position the read models reflect."""
    rows = await reader.fetch(
        "SELECT position FROM projection_tracking WHERE tenant = ? AND name = ?",
        (tenant, PROJECTION_NAME),
    )
    return int(rows[0][0]) if rows else 0


async def tenant_time_zone(reader: Reader, tenant: str) -> str:
    """The tenant's time zone: the last `tenant.settings_changed` that set one (UTC if none)."""
    rows = await reader.fetch(
        "SELECT data FROM ledger_events WHERE tenant = ? AND member_id IS NULL AND type = ? "
        "ORDER BY position DESC",
        (tenant, "tenant.settings_changed"),
    )
    for (data,) in rows:
        time_zone = json.loads(data).get("time_zone")
        if time_zone is not None:
            return str(time_zone)
    return DEFAULT_TIME_ZONE


async def position_known_at(reader: Reader, tenant: str, known_at: datetime) -> int:
    """The tenant's last position recorded at or before `known_at`."""
    rows = await reader.fetch(
        "SELECT position FROM ledger_events WHERE tenant = ? AND recorded_at <= ? "
        "ORDER BY recorded_at DESC, position DESC LIMIT 1",
        (tenant, format_timestamp(known_at)),
    )
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


async def member_events(
    reader: Reader, tenant: str, member_id: str, known_at: datetime | None
) -> list[LedgerEvent]:
    cutoff = format_timestamp(known_at) if known_at else "9999"
    own = await reader.fetch(
        f"SELECT {_EVENT_COLUMNS} FROM ledger_events WHERE tenant = ? AND member_id = ? "
        "AND recorded_at <= ? ORDER BY position",
        (tenant, member_id, cutoff),
    )
    if not own:
        return []
    tenant_wide = await reader.fetch(
        f"SELECT {_EVENT_COLUMNS} FROM ledger_events WHERE tenant = ? AND member_id IS NULL "
        "AND recorded_at <= ? ORDER BY position",
        (tenant, cutoff),
    )
    return [to_event(row) for row in heapq.merge(own, tenant_wide, key=lambda row: int(row[0]))]


async def ledger_head(reader: Reader, tenant: str) -> int:
    """The tenant's last recorded position (0 before its first event)."""
    heads = await reader.fetch("SELECT position FROM ledger_heads WHERE tenant = ?", (tenant,))
    return int(heads[0][0]) if heads else 0


async def position_of(reader: Reader, tenant: str, known_at: datetime | None) -> int:
    """The last ledger position an answer reflects: as known at a time, or as projected now."""
    if known_at is not None:
        return await position_known_at(reader, tenant, known_at)
    return await tracking_position(reader, tenant)


def fold(member_id: str, events: list[LedgerEvent]) -> MemberFacts:
    """The member's facts alone (benefit limits, claims): no key is computed."""
    facts = MemberFacts(member_id)
    for event in events:
        facts.apply(event)
    return facts


async def member_facts(
    reader: Reader, tenant: str, member_id: str, known_at: datetime | None
) -> MemberFacts:
    """The member's facts folded from the ledger (404 when the ledger knows nothing of it)."""
    events = await member_events(reader, tenant, member_id, known_at)
    if not events:
        raise NotFoundError(f"member {member_id!r} not found")
    return await anyio.to_thread.run_sync(fold, member_id, events)


async def replay_member(
    reader: Reader, tenant: str, member_id: str, known_at: datetime | None
) -> MemberProjection:
    events = await member_events(reader, tenant, member_id, known_at)
    if not events:
        raise NotFoundError(f"member {member_id!r} not found")
    return await anyio.to_thread.run_sync(replay, member_id, events)


def _state_from_projection(projection: MemberProjection, position: int) -> MemberState:
    keys = {
        key: (result, projection.flags.get(key)) for key, result in projection.result.keys.items()
    }
    facts = projection.facts
    return MemberState(facts.member_id, position, keys, visit_bodies(projection), facts)


async def member_state(
    reader: Reader, tenant: str, member_id: str, known_at: datetime | None
) -> MemberState:
    """The member as of now from the read model, or as known at a past time by replay."""
    if known_at is not None:
        projection = await replay_member(reader, tenant, member_id, known_at)
        return _state_from_projection(projection, await position_known_at(reader, tenant, known_at))
    position = await tracking_position(reader, tenant)
    views = await reader.fetch(
        "SELECT position FROM member_views WHERE tenant = ? AND member_id = ?", (tenant, member_id)
    )
    if not views:
        raise NotFoundError(f"member {member_id!r} not found")
    rows = await reader.fetch(
        "SELECT body FROM accumulation_views WHERE tenant = ? AND member_id = ?",
        (tenant, member_id),
    )
    keys: dict[KeyId, tuple[KeyResult, Flag | None]] = {}
    for (body,) in rows:
        result, flag = key_from_body(orjson.loads(body))
        keys[result.key] = (result, flag)
    visit_rows = await reader.fetch(
        "SELECT visit_id, body FROM visit_views WHERE tenant = ? AND member_id = ?",
        (tenant, member_id),
    )
    visits = {visit_id: orjson.loads(body) for visit_id, body in visit_rows}
    return MemberState(member_id, position, keys, visits)


async def key_state(
    reader: Reader, tenant: str, member_id: str, key: KeyId, known_at: datetime | None
) -> MemberState:
    """The member with only the one key asked for: one row read instead of the whole member."""
    if known_at is not None:  # replay, but answer (and serialize) the one key only
        projection = await replay_member(reader, tenant, member_id, known_at)
        position = await position_known_at(reader, tenant, known_at)
        if key not in projection.facts.key_ids():
            return MemberState(member_id, position, {}, {}, projection.facts)
        found = (projection.key_result(key), projection.flags.get(key))
        return MemberState(member_id, position, {key: found}, {}, projection.facts)
    position = await tracking_position(reader, tenant)
    rows = await reader.fetch(
        "SELECT body FROM accumulation_views WHERE tenant = ? AND member_id = ? "
        "AND authorization_number = ? AND service_code = ?",
        (tenant, member_id, *key),
    )
    if not rows:
        members = await reader.fetch(
            "SELECT 1 FROM member_views WHERE tenant = ? AND member_id = ?", (tenant, member_id)
        )
        if not members:
            raise NotFoundError(f"member {member_id!r} not found")
        return MemberState(member_id, position, {}, {})
    result, flag = key_from_body(orjson.loads(rows[0][0]))
    return MemberState(member_id, position, {result.key: (result, flag)}, {})


def unauthorized_visits(state: MemberState) -> list[dict[str, Any]]:
    """Visits that match no key: never in a balance, never silently dropped (2.2)."""
    return [
        {
            name: body[name]
            for name in ("visit_id", "service_code", "service_date", "units", "status")
        }
        for _, body in sorted(state.visits.items())
        if body["unauthorized"]
    ]


def accumulating_views(state: MemberState, as_of: date) -> list[KeyView]:
    """Views of the keys whose payer allows accumulation (one accumulation per such key)."""
    return [
        key_view(result, flag, as_of)
        for key, (result, flag) in sorted(state.keys.items())
        if result.accumulates
    ]


def one_view(state: MemberState, key: KeyId, as_of: date) -> KeyView:
    found = state.keys.get(key)
    if found is None or not found[0].accumulates:
        raise NotFoundError(
            f"no accumulation for authorization {key[0]!r} and service code {key[1]!r}"
        )
    return key_view(found[0], found[1], as_of)


async def explain_key(
    reader: Reader,
    tenant: str,
    member_id: str,
    key: KeyId,
    as_of: date,
    known_at: datetime | None,
) -> tuple[KeyView, list[ExplainedEvent], MemberState]:
    """The key as of `as_of` and the events that made it, from a replay: the state holds the
    position and the member's facts."""
    events = await member_events(reader, tenant, member_id, known_at)
    if not events:
        raise NotFoundError(f"member {member_id!r} not found")
    projection, explained = await anyio.to_thread.run_sync(explain, member_id, events, key, as_of)
    state = _state_from_projection(projection, events[-1].position)
    return one_view(state, key, as_of), explained, state


async def visit_body(
    reader: Reader, tenant: str, visit_id: str, known_at: datetime | None
) -> dict[str, Any]:
    if known_at is None:
        rows = await reader.fetch(
            "SELECT body FROM visit_views WHERE tenant = ? AND visit_id = ?", (tenant, visit_id)
        )
        if rows:
            body: dict[str, Any] = json.loads(rows[0][0])
            return body
        raise NotFoundError(f"visit {visit_id!r} not found")
    rows = await reader.fetch(
        "SELECT e.member_id FROM ledger_tags t JOIN ledger_events e "
        "ON e.tenant = t.tenant AND e.position = t.position "
        "WHERE t.tenant = ? AND t.tag = ? ORDER BY t.position LIMIT 1",
        (tenant, f"visit:{visit_id}"),
    )
    if not rows:
        raise NotFoundError(f"visit {visit_id!r} not found")
    state = await member_state(reader, tenant, rows[0][0], known_at)
    if visit_id not in state.visits:
        raise NotFoundError(f"visit {visit_id!r} was not known at {known_at}")
    return state.visits[visit_id]


async def check(
    reader: Reader,
    tenant: str,
    member_id: str,
    proposal: tuple[str, str, date, Decimal, str | None],
) -> tuple[CheckResult, int]:
    """The scheduling check against the member's state with every recorded visit."""
    payer_id, service_code, service_date, units, number = proposal
    position = await tracking_position(reader, tenant)
    events = await member_events(reader, tenant, member_id, None)

    def run() -> CheckResult:
        projection = MemberProjection.empty(member_id)
        for event in events:
            projection.fold(event)  # a billing freezes its visit's allocation (2.11)
        return scheduling_check(projection, payer_id, service_code, service_date, units, number)

    return await anyio.to_thread.run_sync(run), position


async def exceeding(
    reader: Reader,
    tenant: str,
    as_of: date,
    known_at: datetime | None,
    reasons: frozenset[str] = frozenset(),
) -> tuple[list[dict[str, Any]], int]:
    """Keys that need review as of a date, each with its reason (2.10); `reasons`: only these."""
    states: list[MemberState] = []
    if known_at is None:
        position = await tracking_position(reader, tenant)
        rows = await reader.fetch(
            "SELECT member_id, body FROM accumulation_views WHERE tenant = ? AND accumulates = 1 "
            "ORDER BY member_id, authorization_number, service_code",
            (tenant,),
        )
        for member_id, body in rows:
            result, flag = key_from_body(orjson.loads(body))
            states.append(MemberState(member_id, position, {result.key: (result, flag)}, {}))
    else:
        position = await position_known_at(reader, tenant, known_at)
        members = await reader.fetch(
            "SELECT DISTINCT member_id FROM ledger_events WHERE tenant = ? "
            "AND member_id IS NOT NULL AND recorded_at <= ? ORDER BY member_id",
            (tenant, format_timestamp(known_at)),
        )
        for (member_id,) in members:
            states.append(await member_state(reader, tenant, member_id, known_at))
    items = [item for state in states for item in _exceeding_items(state, as_of, reasons)]
    overrides = await _overrides(
        reader,
        tenant,
        {(i["member_id"], i["authorization_number"], i["service_code"]) for i in items},
    )
    for item in items:
        item["override"] = overrides.get(
            (item["member_id"], item["authorization_number"], item["service_code"])
        )
    return items, position


def _exceeding_items(
    state: MemberState, as_of: date, reasons: frozenset[str]
) -> list[dict[str, Any]]:
    items = []
    for key, (result, flag) in sorted(state.keys.items()):
        if not result.accumulates:
            continue
        view = key_view(result, flag, as_of)
        found = review(view, flag)
        if found is None or (reasons and found.reason not in reasons):
            continue
        items.append(
            {
                "member_id": state.member_id,
                "authorization_number": key[0],
                "service_code": key[1],
                "reason": found.reason,
                "raw_balance": view.raw_balance,
                "overuse": found.overuse,
                "cause": found.cause,
                "event_id": found.event_id,
                "period_start": found.period_start,
            }
        )
    return items


async def _overrides(
    reader: Reader, tenant: str, keys: set[tuple[str, str, str]]
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The latest override recorded on a visit of each listed key."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for member_id in sorted({key[0] for key in keys}):
        rows = await reader.fetch(
            "SELECT body FROM visit_views WHERE tenant = ? AND member_id = ?", (tenant, member_id)
        )
        for (text,) in rows:
            body = json.loads(text)
            if body["override"] and body["key"]:
                key = (member_id, body["key"]["authorization_number"], body["key"]["service_code"])
                if key in keys:
                    found[key] = body["override"]
    return found
