"""The projection step inside the writer's transaction: what keeps the read models, derived
events and alerts in step with every recorded event (the ledger calls it through
`services.ledger.ports`).

Stepping a member's event recomputes the keys it touches and notes the changes; `store` writes
the changed rows, the batch's derived events (balance changes, accumulator changes, alerts not
emitted before) and the tenant's tracking position, in the same transaction as the events.
"""

from __future__ import annotations

from datetime import date

from services.ledger.db import Connection
from services.ledger.ports import Members
from services.ledger.validation import CandidateEvent
from services.projections.core.alerts import (
    Alert,
    active_end,
    not_eligible_alerts,
    renewal_alert,
    threshold_alerts,
)
from services.projections.core.billable_time import units_of_visit_data
from services.projections.core.claim_events import (
    CLAIM_EVENT_TYPES,
    RowKey,
    claim_dates,
    claim_schedules,
    rows_on,
)
from services.projections.core.claim_events import changes as claim_changes
from services.projections.core.claims import Claim, Row
from services.projections.core.derived import Derived, from_change
from services.projections.core.facts import LedgerEvent, MemberFacts
from services.projections.core.member import KeyChange, MemberProjection
from services.projections.core.serialize import changed_rows
from services.projections.core.views import scheduling_check
from services.projections.emit import store_derived
from services.projections.marks import emit_new
from services.projections.runner import restore_flags, set_tracking, upsert_members


class InlineProjector:
    """Implements `services.ledger.ports.Projector`."""

    def restore(
        self, connection: Connection, tenant: str, projections: dict[str, MemberProjection]
    ) -> None:
        restore_flags(connection, tenant, projections)

    def begin(self, connection: Connection, tenant: str, members: Members) -> InlineBatch:
        return InlineBatch(connection, tenant, members)


class InlineBatch:
    """Implements `services.ledger.ports.BatchProjection` for one tenant's part of a group."""

    def __init__(self, connection: Connection, tenant: str, members: Members) -> None:
        self.connection = connection
        self.tenant = tenant
        self.members = members
        # alert candidates in the order of the events that raised them (the first of a mark wins)
        self.alerts: list[tuple[Alert, int, LedgerEvent | None]] = []
        self.accumulator_changes: list[Derived] = []

    def warnings(
        self, projection: MemberProjection, candidate: CandidateEvent
    ) -> list[dict[str, str]]:
        """A visit scheduled beyond the available units is recorded, with the check's warnings."""
        data = candidate.data
        new_visit = candidate.type == "visit.scheduled" or (
            candidate.type == "visit.confirmed" and data["visit_id"] not in projection.facts.visits
        )
        if not new_visit:
            return []
        settings = projection.facts.settings_for(data["payer_id"])
        check = scheduling_check(
            projection,
            data["payer_id"],
            data["service_code"],
            date.fromisoformat(data["service_date"]),
            units_of_visit_data(data, settings.unit_minutes, settings.rounding_minutes),
            data.get("authorization_number"),
        )
        return check.warnings

    def member_event(self, projection: MemberProjection, event: LedgerEvent) -> None:
        claim_rows = (
            self._claim_rows(projection, event) if event.type in CLAIM_EVENT_TYPES else None
        )
        changes = len(projection.key_changes)
        projection.step(event)
        self.alerts += _alerts(projection, event, projection.key_changes[changes:])
        if claim_rows is not None:
            self._claim_changes(projection, event, *claim_rows)

    def store(self, stepped: list[MemberProjection], position: int) -> None:
        derived = _derived(stepped)  # before changed_rows clears what the steps noted
        alerts = emit_new(self.connection, self.tenant, self.alerts, None)
        # stable: balances, then accumulator changes, then alerts, within one event
        derived = sorted(derived + self.accumulator_changes + alerts, key=lambda d: d.position)
        upsert_members(self.connection, self.tenant, [changed_rows(p) for p in stepped])
        store_derived(self.connection, self.tenant, derived)
        set_tracking(self.connection, self.tenant, position)

    def _family_claims(self, facts: MemberFacts) -> dict[str, list[Claim]]:
        """The claims of the other members of the member's families (for family rows)."""
        families = sorted({e.family_id for e in facts.enrollments if e.family_id is not None})
        if not families:
            return {}
        others = self.members.family_members(families)
        others.discard(facts.member_id)
        found: dict[str, list[Claim]] = {}
        for other in sorted(others):
            member = self.members.member(other).facts
            if any(e.family_id in families for e in member.enrollments):
                found[other] = list(member.claims.values())
        return found

    def _claim_rows(
        self, projection: MemberProjection, event: LedgerEvent
    ) -> tuple[set[str], set[date], dict[str, list[Claim]], dict[RowKey, Row]]:
        """Before a claim event: the schedule it moves, the dates it touches, the family's claims
        and the member's rows there."""
        facts = projection.facts
        schedule_ids = claim_schedules(facts, event)
        days = claim_dates(facts, event)
        family = self._family_claims(facts)  # the event changes only this member's claims
        return schedule_ids, days, family, rows_on(facts, schedule_ids, days, family)

    def _claim_changes(
        self,
        projection: MemberProjection,
        event: LedgerEvent,
        schedule_ids: set[str],
        days: set[date],
        family: dict[str, list[Claim]],
        before: dict[RowKey, Row],
    ) -> None:
        facts = projection.facts
        after = rows_on(facts, schedule_ids, days, family)
        changed, met = claim_changes(facts.member_id, before, after, event)
        self.accumulator_changes += [
            Derived(kind, data, event.position, event.recorded_at) for kind, data in changed
        ]
        self.alerts += [(alert, event.position, event) for alert in met]


def _derived(stepped: list[MemberProjection]) -> list[Derived]:
    """The batch's derived events in ledger order (by member within one event)."""
    changes = sorted(
        (
            (change.event.position, p.facts.member_id, index, change)
            for p in stepped
            for index, change in enumerate(p.key_changes)
        ),
        key=lambda item: item[:3],
    )
    return [
        Derived(event_type, data, change.event.position, change.event.recorded_at)
        for _, member_id, _, change in changes
        for event_type, data in from_change(member_id, change)
    ]


def _alerts(
    projection: MemberProjection, event: LedgerEvent, changes: list[KeyChange]
) -> list[tuple[Alert, int, LedgerEvent | None]]:
    """The alerts that hold right after one event of a member (emit_new drops those already
    emitted). Judged per event, so a group commit raises them as its batches one by one would."""
    facts = projection.facts
    found: list[Alert] = []
    if facts.benefits and event.type.startswith(("visit.", "benefit.")):
        found += threshold_alerts(facts, event)
    if facts.coverage and event.type.startswith("coverage."):
        found += not_eligible_alerts(facts, list(facts.visits), event)
    elif facts.coverage and event.type.startswith("visit."):
        found += not_eligible_alerts(facts, [event.data["visit_id"]], event)
    for change in changes:
        alert = renewal_alert(
            facts.member_id,
            change.key,
            change.after,
            active_end(facts, change.key),
            facts.settings_for(change.after.payer_id),
            facts.local_date(event.recorded_at),  # "ending soon" by the tenant's date
            event,
        )
        if alert is not None:
            found.append(alert)
    return [(alert, event.position, event) for alert in found]
