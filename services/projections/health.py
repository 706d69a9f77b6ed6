"""How far the read side and the relay are behind the ledger: for all tenants together as ages
and counts of tenants (what /readyz and /metrics show without a key), and for one tenant with
its event counts (GET /v1/admin/status, behind its admin key).

No figure for all tenants counts events: a tenant that knows its own events could subtract them
from a ledger-wide count and learn the others' volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ledger.codec import parse_timestamp
from services.ledger.schema import PROJECTION_NAME
from services.projections.reads import Reader

# the stream the relay command publishes to unless told otherwise: its lag is shown even before
# a relay ran (a relay that never started lags by every derived event)
DEFAULT_RELAY_STREAM = "BENEFIT_LEDGER"


@dataclass(frozen=True)
class ProjectionLag:
    """Tenants whose read models are behind their ledger, and how long the oldest event not
    reflected yet has waited (0 when none)."""

    tenants_lagging: int
    oldest_age_seconds: float

    def within(self, max_lag_seconds: float) -> bool:
        """Caught up within the bound: nothing waits, or the oldest waiting event has waited
        less than `max_lag_seconds` (so a bound of 0 allows no lag at all)."""
        assert max_lag_seconds >= 0, "a lag bound is never negative"
        return self.tenants_lagging == 0 or self.oldest_age_seconds < max_lag_seconds


@dataclass(frozen=True)
class TenantStatus:
    """One tenant's ledger and how far its read models and relay streams are behind it."""

    tenant: str
    events: int  # the tenant's last position: positions are gap-free from 1
    projected_position: int
    lag_oldest_age_seconds: float
    derived_events: int  # the tenant's last derived-event sequence
    relay_lag: dict[str, int]  # stream -> derived events not yet published

    @property
    def lag(self) -> int:
        return self.events - self.projected_position

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "events": self.events,
            "projected_position": self.projected_position,
            "lag": self.lag,
            "lag_oldest_age_seconds": self.lag_oldest_age_seconds,
            "derived_events": self.derived_events,
            "relay_lag": self.relay_lag,
        }


def _age_seconds(recorded_at: str | None, now: datetime) -> float:
    if recorded_at is None:
        return 0.0
    return round(max(0.0, (now - parse_timestamp(recorded_at)).total_seconds()), 3)


async def projection_lag(reader: Reader, now: datetime) -> ProjectionLag:
    """All tenants: the first event after each lagging tenant's tracking position (positions
    are gap-free, so it is one index lookup per tenant)."""
    rows = await reader.fetch(
        "SELECT COUNT(*), MIN(e.recorded_at) FROM ledger_heads h "
        "LEFT JOIN projection_tracking t ON t.tenant = h.tenant AND t.name = ? "
        "LEFT JOIN ledger_events e "
        "ON e.tenant = h.tenant AND e.position = COALESCE(t.position, 0) + 1 "
        "WHERE COALESCE(t.position, 0) < h.position",
        (PROJECTION_NAME,),
    )
    lagging, oldest = rows[0]
    return ProjectionLag(int(lagging), _age_seconds(oldest, now))


async def relay_lag_ages(reader: Reader, now: datetime) -> dict[str, float]:
    """Per relay stream, all tenants: how long the oldest derived event not yet acknowledged by
    the stream has waited (0 when none). One index lookup per tenant and stream."""
    rows = await reader.fetch(
        "SELECT name, MIN(oldest) FROM (SELECT n.name AS name, "
        "(SELECT e.occurred_at FROM derived_events e WHERE e.tenant = h.tenant "
        "AND e.sequence > COALESCE(c.sequence, 0) ORDER BY e.sequence LIMIT 1) AS oldest "
        "FROM ledger_heads h "
        "CROSS JOIN (SELECT DISTINCT name FROM relay_checkpoints UNION SELECT ?) n "
        "LEFT JOIN relay_checkpoints c ON c.tenant = h.tenant AND c.name = n.name) s "
        "GROUP BY name",
        (DEFAULT_RELAY_STREAM,),
    )
    ages = {str(name): _age_seconds(oldest, now) for name, oldest in rows}
    return ages or {DEFAULT_RELAY_STREAM: 0.0}


async def tenant_status(reader: Reader, tenant: str, now: datetime) -> TenantStatus:
    """The tenant's own figures, with a few index lookups."""
    rows = await reader.fetch(
        "SELECT h.position, COALESCE(t.position, 0), e.recorded_at, "
        "(SELECT MAX(d.sequence) FROM derived_events d WHERE d.tenant = h.tenant) "
        "FROM ledger_heads h "
        "LEFT JOIN projection_tracking t ON t.tenant = h.tenant AND t.name = ? "
        "LEFT JOIN ledger_events e "
        "ON e.tenant = h.tenant AND e.position = COALESCE(t.position, 0) + 1 "
        "WHERE h.tenant = ?",
        (PROJECTION_NAME, tenant),
    )
    events, projected, oldest, derived = rows[0] if rows else (0, 0, None, None)
    derived_events = int(derived or 0)
    checkpoints = await reader.fetch(
        "SELECT n.name, COALESCE(c.sequence, 0) "
        "FROM (SELECT DISTINCT name FROM relay_checkpoints UNION SELECT ?) n "
        "LEFT JOIN relay_checkpoints c ON c.tenant = ? AND c.name = n.name",
        (DEFAULT_RELAY_STREAM, tenant),
    )
    return TenantStatus(
        tenant,
        int(events),
        int(projected),
        _age_seconds(oldest if int(projected) < int(events) else None, now),
        derived_events,
        {str(name): derived_events - int(sequence) for name, sequence in sorted(checkpoints)},
    )
