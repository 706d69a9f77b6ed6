"""Benefit limits as of a date and as known at a time: folded from the member's ledger events.

A member's benefit limits, verifications, coverage and visits are few, so the answers fold the
member's facts from the ledger on every query (no read model to keep in step), which also makes
`known_at` the same code path as now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import anyio

from contracts.benefits import in_unit
from services.ledger.errors import NotFoundError
from services.projections.core.benefits import BenefitStatus, Verification, benefit_status
from services.projections.core.facts import MemberFacts
from services.projections.queries import fold, member_events, member_facts, position_of
from services.projections.reads import Reader


@dataclass(frozen=True)
class MemberBenefits:
    facts: MemberFacts
    position: int


async def member_benefits(
    reader: Reader, tenant: str, member_id: str, known_at: datetime | None
) -> MemberBenefits:
    """The member's facts (404 when the ledger knows nothing of the member then)."""
    position = await position_of(reader, tenant, known_at)
    return MemberBenefits(await member_facts(reader, tenant, member_id, known_at), position)


def statuses(facts: MemberFacts, as_of: date) -> list[BenefitStatus]:
    return [
        benefit_status(
            limit, facts.usages(limit), facts.verifications.get(limit.benefit_id, []), as_of
        )
        for limit in sorted(facts.benefits.values(), key=lambda limit: limit.benefit_id)
    ]


def status_of(facts: MemberFacts, benefit_id: str, as_of: date) -> BenefitStatus:
    limit = facts.benefits.get(benefit_id)
    if limit is None:
        raise NotFoundError(f"benefit {benefit_id!r} not found for member {facts.member_id!r}")
    return benefit_status(
        limit, facts.usages(limit), facts.verifications.get(benefit_id, []), as_of
    )


def item(status: BenefitStatus) -> dict[str, Any]:
    limit = status.limit
    verification = status.verification
    return {
        "benefit_id": limit.benefit_id,
        "benefit_code": limit.benefit_code,
        "payer_id": limit.payer_id,
        "service_codes": sorted(limit.service_codes),
        "period": {
            "type": limit.period.type,
            "start": status.period_start,
            "end": status.period_end,
            "days": limit.period.days if limit.period.sliding else None,
            "open": status.open,
        },
        "limit": limit.limit,
        "unit": limit.unit,
        "used": status.used,
        "remaining": status.remaining,
        "exhausted": status.exhausted,
        "reconciliation": status.reconciliation,
        "thresholds": list(limit.thresholds),
        "verification": None if verification is None else _verification(verification, limit.unit),
    }


def _verification(verification: Verification, unit: str) -> dict[str, Any]:
    return {
        "event_id": verification.event_id,
        "as_of": verification.as_of,
        "used": in_unit(verification.used, unit),
        "source": verification.source,
        "reference": verification.reference,
    }


def detail(facts: MemberFacts, status: BenefitStatus) -> dict[str, Any]:
    return {
        **item(status),
        "member_id": facts.member_id,
        "visits": [
            {
                "visit_id": usage.visit_id,
                "service_date": usage.service_date,
                "service_code": usage.service_code,
                "amount": in_unit(usage.amount, status.limit.unit),
                "counted": usage.visit_id in status.counted,
                "not_eligible": not facts.eligible(facts.visits[usage.visit_id]),
            }
            for usage in status.visits
        ],
        "verifications": [_verification(v, status.limit.unit) for v in status.verifications],
    }


async def near_limit(
    reader: Reader, tenant: str, as_of: date, known_at: datetime | None, threshold: Decimal
) -> tuple[list[dict[str, Any]], int]:
    """Every benefit whose use reached `threshold` of its limit in the period holding as_of."""
    position = await position_of(reader, tenant, known_at)
    members = await reader.fetch(
        "SELECT DISTINCT e.member_id FROM ledger_tags t JOIN ledger_events e "
        "ON e.tenant = t.tenant AND e.position = t.position "
        "WHERE t.tenant = ? AND t.tag >= 'benefit:' AND t.tag < 'benefit;' "
        "AND e.type = 'benefit.limit_defined' ORDER BY e.member_id",
        (tenant,),
    )
    items: list[dict[str, Any]] = []
    for (member_id,) in members:
        events = await member_events(reader, tenant, member_id, known_at)
        facts = await anyio.to_thread.run_sync(fold, member_id, events)
        for status in statuses(facts, as_of):
            if status.fraction < threshold:
                continue
            entry = item(status)
            items.append(
                {
                    "member_id": member_id,
                    **{k: entry[k] for k in _NEAR_LIMIT_FIELDS},
                    "fraction_used": status.fraction,
                }
            )
    items.sort(key=lambda i: (-i["fraction_used"], i["member_id"], i["benefit_id"]))
    return items, position


_NEAR_LIMIT_FIELDS = (
    "benefit_id",
    "benefit_code",
    "payer_id",
    "period",
    "limit",
    "unit",
    "used",
    "remaining",
    "exhausted",
    "reconciliation",
)
