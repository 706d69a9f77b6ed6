"""One recorded event as the projections see it, and the tenant's calendar date of an instant
(pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

# events of no member: folded into every member's facts, never a member's own position
TENANT_WIDE_TYPES = frozenset(
    {"tenant.settings_changed", "payer.settings_changed", "accumulator.schedule_defined"}
)
DEFAULT_TIME_ZONE = "UTC"


@dataclass(frozen=True)
class LedgerEvent:
    """One recorded fact as the projections see it: normalized data, position and recorded time.

    `data` is the stored JSON (dates and decimals as text). Its typed fields are decoded once per
    event, when first asked for, by `day`, `amount` and their `_or_none` forms: the fold, the
    negative-accrual causes and the scheduling check of one event share the parsed value instead
    of each parsing the text again.
    """

    position: int
    event_id: str
    type: str
    data: Mapping[str, Any]
    recorded_at: datetime
    _typed: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def day(self, name: str) -> date:
        """The date field `name` (present: the event was validated)."""
        value = self._typed.get(name)
        if value is None:
            value = self._typed[name] = date.fromisoformat(self.data[name])
        return value

    def day_or_none(self, name: str) -> date | None:
        return self.day(name) if self.data.get(name) is not None else None

    def amount(self, name: str) -> Decimal:
        """The decimal field `name` (units, limits, used amounts; exact, never float)."""
        value = self._typed.get(name)
        if value is None:
            value = self._typed[name] = Decimal(self.data[name])
        return value

    def amount_or_none(self, name: str) -> Decimal | None:
        return self.amount(name) if self.data.get(name) is not None else None


def local_date(moment: datetime, time_zone: str) -> date:
    """The calendar date of an instant in an IANA time zone: the tenant's "today" (section 3)."""
    if time_zone == DEFAULT_TIME_ZONE:
        return moment.astimezone(UTC).date()
    return moment.astimezone(ZoneInfo(time_zone)).date()  # ZoneInfo keeps its zones cached
