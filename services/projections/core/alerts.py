"""Alerts on the subscription stream (accumulation.md section 3), each emitted once.

- `benefit.threshold_crossed`: a benefit's use in a period reached one of its thresholds (default
  0.8 and 1.0 of the limit); once per threshold and period, so again after a reset. Judged on
  the whole period as recorded so far, for the periods that have not ended by the day the
  causing event is recorded (a backdated visit in a long-closed period alerts nobody). A rolling
  limit's window moves every day: it is judged on the window ending on that day, once per
  threshold and run of days the threshold stays reached (the run's first day names it), so use
  that slides out of the window and comes back alerts again. An episode is a period like any.
- `authorization.renewal_due`: an active key ends within the payer's `renewal_days_before_end`
  (default 14) of the day, or has used `renewal_used_fraction` (default 0.8) of all the units it
  authorizes over its span; once per key and end date, so again after the key is extended.
- `visit.not_eligible`: a scheduled or confirmed visit falls outside the member's coverage by
  its payer; once per visit and service date.

The candidates are pure functions of a member's projection; `alert_marks` rows (marks.py, written
with the derived events, in the same transaction) make each one exactly once: a replay, a rebuild or
a second crossing in the same period emits nothing again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from contracts.decimals import fraction_text, money_text, units_text
from services.projections.core.accumulation import KeyResult
from services.projections.core.benefits import (
    BenefitStatus,
    Limit,
    benefit_status,
    crossed,
    period_totals,
    rolling_since,
)
from services.projections.core.facts import KeyId, LedgerEvent, MemberFacts, PayerSettings
from services.projections.core.status import renewal_reasons

THRESHOLD_CROSSED = "benefit.threshold_crossed"
RENEWAL_DUE = "authorization.renewal_due"
NOT_ELIGIBLE = "visit.not_eligible"


@dataclass(frozen=True)
class Alert:
    kind: str  # the mark's kind: threshold | renewal | not_eligible
    subject: str
    scope: str
    type: str
    data: dict[str, Any]

    @property
    def mark(self) -> tuple[str, str, str]:
        return (self.kind, self.subject, self.scope)


def _cause(event: LedgerEvent | None) -> dict[str, Any]:
    return {
        "cause_event_id": event.event_id if event else None,
        "position": event.position if event else None,
    }


def threshold_alerts(facts: MemberFacts, event: LedgerEvent) -> list[Alert]:
    """Every threshold the member's benefits have reached in periods still open on the day (the
    tenant's date when the event was recorded)."""
    today = facts.local_date(event.recorded_at)
    alerts = []
    for limit in sorted(facts.benefits.values(), key=lambda limit: limit.benefit_id):
        for status, threshold, scope in _reached(facts, limit, today):
            alerts.append(
                Alert(
                    "threshold",
                    limit.benefit_id,
                    f"{scope}:{threshold.normalize()}",
                    THRESHOLD_CROSSED,
                    _threshold_data(facts, status, threshold, event),
                )
            )
    return alerts


def _reached(
    facts: MemberFacts, limit: Limit, today: date
) -> list[tuple[BenefitStatus, Decimal, str]]:
    """(the period's status, a threshold it reached, the alert's scope) of the open periods."""
    usages = facts.usages(limit)
    verifications = facts.verifications.get(limit.benefit_id, [])
    if limit.period.type == "rolling":
        status = benefit_status(limit, usages, verifications, today)
        found = []
        for threshold in crossed(status):
            since = rolling_since(limit, usages, verifications, threshold, today)
            assert since is not None, "today's window reached the threshold"
            found.append((status, threshold, since.isoformat()))
        return found
    return [
        (status, threshold, status.period_start.isoformat() if status.period_start else "lifetime")
        for status in period_totals(limit, usages, verifications)
        if status.period_end is None or status.period_end >= today
        for threshold in crossed(status)
    ]


def _threshold_data(
    facts: MemberFacts, status: BenefitStatus, threshold: Decimal, event: LedgerEvent
) -> dict[str, Any]:
    limit = status.limit
    in_unit = money_text if limit.unit == "amount" else units_text
    return {
        "member_id": facts.member_id,
        "benefit_id": limit.benefit_id,
        "benefit_code": limit.benefit_code,
        "payer_id": limit.payer_id,
        "threshold": fraction_text(threshold),
        "period": {"start": _iso(status.period_start), "end": _iso(status.period_end)},
        "limit": in_unit(limit.limit),
        "unit": limit.unit,
        "used": in_unit(status.used),
        "remaining": in_unit(status.remaining),
        "exhausted": status.exhausted,
        **_cause(event),
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def not_eligible_alerts(
    facts: MemberFacts, visit_ids: Iterable[str], event: LedgerEvent
) -> list[Alert]:
    """The named visits (scheduled or confirmed) that fall outside their payer's coverage."""
    alerts = []
    for visit_id in sorted(set(visit_ids)):
        visit = facts.visits.get(visit_id)
        if visit is None or visit.status not in ("scheduled", "confirmed"):
            continue
        if facts.eligible(visit):
            continue
        spans = facts.coverage.get(visit.payer_id, [])
        alerts.append(
            Alert(
                "not_eligible",
                visit.visit_id,
                visit.service_date.isoformat(),
                NOT_ELIGIBLE,
                {
                    "member_id": facts.member_id,
                    "visit_id": visit.visit_id,
                    "payer_id": visit.payer_id,
                    "service_code": visit.service_code,
                    "service_date": visit.service_date.isoformat(),
                    "status": visit.status,
                    "coverage": [
                        {"start": span.start.isoformat(), "end": _iso(span.end)} for span in spans
                    ],
                    **_cause(event),
                },
            )
        )
    return alerts


def active_end(facts: MemberFacts, key: KeyId) -> date | None:
    """The last day an active line of the key covers; None when none is active."""
    ends = [line.end_date for line in facts.key_lines(key) if line.active]
    return max(ends) if ends else None


def renewal_alert(
    member_id: str,
    key: KeyId,
    result: KeyResult,
    end: date | None,
    settings: PayerSettings,
    today: date,
    event: LedgerEvent | None,
) -> Alert | None:
    """The key's renewal alert when it is due on `today`, else None."""
    if end is None or end < today:
        return None
    authorized = sum((p.authorized for p in result.periods), Decimal(0))
    used = sum((p.used for p in result.periods), Decimal(0))
    fraction = used / authorized if authorized > 0 else None
    days_left = (end - today).days
    reasons = renewal_reasons(days_left, fraction, settings)  # the rule 2.16's `expiring` uses
    if not reasons:
        return None
    return Alert(
        "renewal",
        f"{member_id}|{key[0]}|{key[1]}",
        end.isoformat(),
        RENEWAL_DUE,
        {
            "key": {
                "member_id": member_id,
                "authorization_number": key[0],
                "service_code": key[1],
            },
            "payer_id": result.payer_id,
            "reasons": reasons,
            "end_date": end.isoformat(),
            "days_left": days_left,
            "authorized": units_text(authorized),
            "used": units_text(used),
            "fraction_used": None if fraction is None else fraction_text(fraction),
            **_cause(event),
        },
    )
