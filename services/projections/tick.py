"""The period rollover (accumulation.md 2.9, the guide's weekly update).

When a key's new period starts, its balance as of today changes by the new grant: `tick` emits one
`balance.changed` per active key and period (`reason` `period_started`, no cause event), `previous`
as of the day before the period and `current` as of today. An alert mark per key and period makes
it exactly once: running it twice, or again after a crash half way, emits nothing new. Keys are
taken in chunks, each chunk one transaction holding the tenant's head, so a crash loses no mark
without its events and the tenant's writers wait for one chunk at a time (other tenants' never).
Several processes ticking at once share the tenants: each ticks a tenant only while it holds the
tenant's "tick" lease (services/ledger/leases.py) and leaves the tenants others hold to them.

The tick also emits `authorization.renewal_due` for keys whose end comes within the payer's
notice as days pass (services/projections/core/alerts.py; once per key and end date).

"Today" is each tenant's own date, in the time zone of its `tenant.settings_changed` (UTC by
default; accumulation.md section 3): a tenant in America/New_York starts its Sunday week at
midnight New York time, not on Saturday evening. A day given explicitly applies to every tenant.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.ledger.db import Connection, Database
from services.ledger.leases import Lease
from services.ledger.reader import tenant_wide_events
from services.ledger.recorder import lock_heads
from services.projections.core.alerts import Alert, renewal_alert
from services.projections.core.derived import BALANCE_CHANGED, Derived, balance_changed
from services.projections.core.facts import LedgerEvent, MemberFacts
from services.projections.core.serialize import key_from_body
from services.projections.core.views import key_view, period_index
from services.projections.emit import store_derived
from services.projections.marks import emit_new

TICK_CHUNK = 500  # keys per transaction
KeyRow = tuple[str, str, str, str]  # member, authorization number, service code, body


@dataclass
class TickResult:
    """What one tick did, for the command to say and `serve` to wake the feeds."""

    day: date  # the day asked for, or today in UTC
    by_time_zone: bool = False  # each tenant ticked for its own today (no day was asked for)
    tenants: int = 0  # tenants ticked
    tenants_left: int = 0  # tenants another process was ticking (its lease held)
    keys: int = 0  # keys looked at
    emitted: Counter[str] = field(default_factory=Counter)  # derived events by type

    @property
    def emitted_total(self) -> int:
        return sum(self.emitted.values())


def tick(database: Database, today: date | None = None, now: datetime | None = None) -> TickResult:
    """Emit the rollover events of the periods containing `today`; without it, of each tenant's
    own today: its date, in its time zone, at `now` (default: the clock).

    A tenant another process is ticking (its lease held) is left to that process.
    """
    moment = now or datetime.now(UTC)
    result = TickResult(today or moment.astimezone(UTC).date(), by_time_zone=today is None)
    connection = database.connect()
    try:
        tenants = [
            row[0]
            for row in connection.execute(
                "SELECT DISTINCT tenant FROM accumulation_views ORDER BY tenant"
            )
        ]
        for tenant in tenants:
            lease = Lease(tenant, "tick")
            if not lease.try_acquire(connection):
                result.tenants_left += 1
                continue
            try:
                _tick_tenant(connection, tenant, result, moment)
                result.tenants += 1
            finally:
                lease.release(connection)
        return result
    finally:
        connection.close()


def _settings(connection: Connection, tenant: str) -> MemberFacts:
    """The tenant's settings (its time zone) and payer settings (the renewal notice), folded from
    its tenant-wide events."""
    facts = MemberFacts("")
    for event in tenant_wide_events(connection, tenant):
        facts.apply(event)
    return facts


def _tick_tenant(connection: Connection, tenant: str, result: TickResult, moment: datetime) -> None:
    settings = _settings(connection, tenant)
    day = settings.local_date(moment) if result.by_time_zone else result.day
    after: tuple[str, str, str] = ("", "", "")
    while True:
        with connection.transaction(write=True):
            head = lock_heads(connection, [tenant])[tenant]  # derived sequences in order
            rows = _key_rows(connection, tenant, after)
            if not rows:
                return
            fresh = _tick_chunk(connection, tenant, rows, day, settings, head.position)
            store_derived(connection, tenant, fresh)
            result.keys += len(rows)
            result.emitted.update(event.type for event in fresh)
        after = rows[-1][:3]


def _key_rows(connection: Connection, tenant: str, after: tuple[str, str, str]) -> list[KeyRow]:
    rows = connection.execute(
        "SELECT member_id, authorization_number, service_code, body FROM accumulation_views "
        "WHERE tenant = ? AND (member_id, authorization_number, service_code) > (?, ?, ?) "
        "ORDER BY member_id, authorization_number, service_code LIMIT ?",
        (tenant, *after, TICK_CHUNK),
    )
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def _tick_chunk(
    connection: Connection,
    tenant: str,
    rows: list[KeyRow],
    today: date,
    settings: MemberFacts,
    position: int,
) -> list[Derived]:
    """The chunk's rollovers and renewals not emitted yet; an alert mark makes each one once."""
    candidates: list[tuple[Alert, int, LedgerEvent | None]] = []
    for member_id, number, code, body in rows:
        result, flag = key_from_body(json.loads(body))
        index = period_index(result, today)
        if index >= 0 and today <= result.periods[index].end:  # started and not ended
            start = result.periods[index].start
            data: dict[str, Any] = balance_changed(
                member_id,
                (number, code),
                key_view(result, flag, start - timedelta(days=1)),
                key_view(result, flag, today),
                first_affected=start,
                cause_event_id=None,
                position=position,
                reason="period_started",
            )
            subject = f"{member_id}|{number}|{code}"
            rollover = Alert("period_started", subject, start.isoformat(), BALANCE_CHANGED, data)
            candidates.append((rollover, position, None))
        granted = any(period.authorized > 0 for period in result.periods)
        renewal = renewal_alert(
            member_id,
            (number, code),
            result,
            result.span_end if granted else None,
            settings.settings_for(result.payer_id),
            today,
            None,
        )
        if renewal is not None:
            candidates.append((renewal, position, None))
    return emit_new(connection, tenant, candidates, datetime.now(UTC))
