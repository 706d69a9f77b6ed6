"""The facts of one member folded from ledger events: lines, visits, payer and tenant settings
(pure).

The value facts live in `fact_types.py`, the event in `ledger_event.py` and the folds in
`member_folds.py`; their names are re-exported here, where most modules import them from.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from services.projections.core.benefits import (
    Coverage,
    Limit,
    Usage,
    Verification,
    eligible,
)
from services.projections.core.claims import Claim, Enrollment, Schedule
from services.projections.core.fact_types import (
    WEEKDAYS,
    Billed,
    Cap,
    KeyId,
    Line,
    Opening,
    Visit,
)
from services.projections.core.ledger_event import (
    DEFAULT_TIME_ZONE,
    TENANT_WIDE_TYPES,
    LedgerEvent,
    local_date,
)
from services.projections.core.member_folds import HANDLERS, grant_codes
from services.projections.core.payer_settings import DEFAULT_SETTINGS, PayerSettings

__all__ = [
    "DEFAULT_TIME_ZONE",
    "TENANT_WIDE_TYPES",
    "WEEKDAYS",
    "Billed",
    "Cap",
    "KeyId",
    "LedgerEvent",
    "Line",
    "MemberFacts",
    "Opening",
    "PayerSettings",
    "Visit",
    "grant_codes",
    "local_date",
]


@dataclass
class MemberFacts:
    """Everything the accumulation rules need about one member, as of the events folded in."""

    member_id: str
    lines: dict[str, Line] = field(default_factory=dict)
    visits: dict[str, Visit] = field(default_factory=dict)
    settings: dict[str, PayerSettings] = field(default_factory=dict)
    benefits: dict[str, Limit] = field(default_factory=dict)
    verifications: dict[str, list[Verification]] = field(default_factory=dict)  # by benefit
    coverage: dict[str, list[Coverage]] = field(default_factory=dict)  # by payer
    schedules: dict[str, Schedule] = field(default_factory=dict)  # the tenant's
    enrollments: list[Enrollment] = field(default_factory=list)
    claims: dict[str, Claim] = field(default_factory=dict)
    time_zone: str = DEFAULT_TIME_ZONE  # the tenant's (tenant.settings_changed)
    openings: dict[KeyId, Opening] = field(default_factory=dict)  # 2.17

    def copy(self) -> MemberFacts:
        return copy.deepcopy(self)

    def local_date(self, moment: datetime) -> date:
        """The tenant's date at an instant (a recorded time): its "today" then."""
        return local_date(moment, self.time_zone)

    def settings_for(self, payer_id: str) -> PayerSettings:
        return self.settings.get(payer_id, DEFAULT_SETTINGS)

    def key_lines(self, key: KeyId) -> list[Line]:
        return [line for line in self.lines.values() if line.key == key]

    def key_settings(self, key: KeyId) -> PayerSettings:
        """The settings a key is computed under: those of the payer of its latest line."""
        return self.settings_for(self.key_lines(key)[-1].payer_id)

    def key_ids(self) -> list[KeyId]:
        return sorted({line.key for line in self.lines.values()})

    def usages(self, limit: Limit) -> list[Usage]:
        """The member's confirmed visits a benefit limit counts, with what each one uses."""
        return [
            Usage(
                visit.visit_id,
                visit.service_date,
                visit.service_code,
                Decimal(1)
                if limit.unit == "visits"
                else visit.units
                if limit.unit == "units"
                else Decimal(0),
            )
            for visit in self.visits.values()
            if visit.status == "confirmed"
            and visit.payer_id == limit.payer_id
            and visit.service_code in limit.service_codes
        ]

    def authorization_applies(self, payer_id: str, service_code: str) -> bool:
        """Whether a visit matching no authorization deserves `no_authorization` (section 3,
        decision): the member has some line with the payer for the code (any number, dates or
        state), or the payer requires an authorization for the code."""
        if self.settings_for(payer_id).requires_authorization(service_code):
            return True
        return any(
            line.payer_id == payer_id and line.serves(service_code) for line in self.lines.values()
        )

    def eligible(self, visit: Visit) -> bool:
        """Inside the payer's coverage (always, when no coverage fact of the payer exists)."""
        return eligible(self.coverage.get(visit.payer_id), visit.service_date)

    def apply(self, event: LedgerEvent) -> None:
        """Fold one event in. Events were validated by the ledger before they were recorded."""
        handler = HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event)
