"""How benefit, coverage, schedule, enrollment and claim events fold into a member's facts
(pure; `facts.py` holds the facts, `member_folds.py` the authorization and visit folds)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from services.projections.core.benefits import (
    DEFAULT_THRESHOLDS,
    Coverage,
    Limit,
    PeriodRule,
    Verification,
)
from services.projections.core.claim_schedules import ineligible_lines, schedule_of_claim_data
from services.projections.core.claims import Claim, ClaimLine, Enrollment, Schedule

if TYPE_CHECKING:
    from services.projections.core.facts import LedgerEvent, MemberFacts


def limit_defined(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    facts.benefits[d["benefit_id"]] = Limit(
        benefit_id=d["benefit_id"],
        member_id=d["member_id"],
        payer_id=d["payer_id"],
        benefit_code=d["benefit_code"],
        service_codes=frozenset(d["service_codes"]),
        limit=event.amount("limit"),
        unit=d["unit"],
        period=PeriodRule.from_json(d["period"]),
        thresholds=thresholds(d.get("thresholds")),
    )


def thresholds(values: list[str] | None) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values) if values else DEFAULT_THRESHOLDS


def limit_amended(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    limit = facts.benefits[d["benefit_id"]]
    facts.benefits[d["benefit_id"]] = Limit(
        benefit_id=limit.benefit_id,
        member_id=limit.member_id,
        payer_id=limit.payer_id,
        benefit_code=limit.benefit_code,
        service_codes=frozenset(d.get("service_codes", limit.service_codes)),
        limit=event.amount("limit") if "limit" in d else limit.limit,
        unit=limit.unit,
        period=PeriodRule.from_json(d["period"]) if "period" in d else limit.period,
        thresholds=thresholds(d["thresholds"]) if "thresholds" in d else limit.thresholds,
    )


def usage_verified(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    facts.verifications.setdefault(d["benefit_id"], []).append(
        Verification(
            event.event_id,
            event.position,
            event.day("as_of"),
            event.amount("used"),
            d["source"],
            d.get("reference"),
        )
    )


def coverage_started(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    facts.coverage.setdefault(d["payer_id"], []).append(Coverage(event.day("date")))


def coverage_ended(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    spans = facts.coverage[d["payer_id"]]
    spans[-1] = Coverage(spans[-1].start, event.day("date"))


def schedule_defined(facts: MemberFacts, event: LedgerEvent) -> None:
    schedule = Schedule.from_json(event.data)  # a redefinition replaces the schedule
    facts.schedules[schedule.schedule_id] = schedule
    _judge_claims(facts)  # its dates decide which claim lines were eligible


def enrolled(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    facts.enrollments.append(
        Enrollment(
            d["member_id"],
            d["schedule_id"],
            event.day("start_date"),
            event.day_or_none("end_date"),
            d.get("family_id"),
            event.position,
        )
    )
    _judge_claims(facts)


def _judge_claims(facts: MemberFacts) -> None:
    """Which lines of the member's claims its enrollments cover (they may be recorded later)."""
    for claim in facts.claims.values():
        claim.ineligible_lines = ineligible_lines(claim, facts.enrollments, facts.schedules)


def claim_adjudicated(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    # the schedule is decided once, from the enrollments known now (4.1); the ledger refused the
    # claim where the choice has a problem, so a problem here is a claim of an older release
    choice = schedule_of_claim_data(facts.enrollments, facts.schedules, d)
    claim = facts.claims[d["claim_id"]] = Claim(
        claim_id=d["claim_id"],
        reference_number=d["reference_number"],
        member_id=d["member_id"],
        plan_type=d["plan_type"],
        schedule_id=choice.schedule_id,
        billing_provider=d["billing_provider"],
        status=d["status"],
        release_date=event.day_or_none("release_date"),
        lines=tuple(ClaimLine.from_json(line) for line in d["lines"]),
        position=event.position,
        events=[event.event_id],
    )
    claim.ineligible_lines = ineligible_lines(claim, facts.enrollments, facts.schedules)


def claim_status_changed(facts: MemberFacts, event: LedgerEvent) -> None:
    d = event.data
    claim = facts.claims[d["claim_id"]]
    claim.status = d["status"]
    claim.release_date = event.day_or_none("release_date") or claim.release_date
    claim.events.append(event.event_id)


def claim_adjusted(facts: MemberFacts, event: LedgerEvent) -> None:
    claim = facts.claims[event.data["claim_id"]]
    claim.lines = tuple(ClaimLine.from_json(line) for line in event.data["lines"])
    claim.ineligible_lines = ineligible_lines(claim, facts.enrollments, facts.schedules)
    claim.events.append(event.event_id)


def claim_voided(facts: MemberFacts, event: LedgerEvent) -> None:
    claim = facts.claims[event.data["claim_id"]]
    claim.voided = True
    claim.events.append(event.event_id)


def opening_balance(facts: MemberFacts, event: LedgerEvent) -> None:
    """An opening balance kept as a claim of one line on its date (2.17): it flows wherever the
    member's (and its family's) claims do, and the rows let no earlier line of its period count
    beside it (`claims.after_opening`)."""
    d = event.data
    schedule = facts.schedules[d["schedule_id"]]  # the ledger checked it exists
    as_of = event.day("as_of")
    line = ClaimLine(
        line_number=1,
        from_date=as_of,
        thru_date=as_of,
        allowed_amount=Decimal(0),
        network="in",
        days=None,
        illness=d.get("illness"),
        tooth=d.get("tooth"),
        applied={d["accumulator_code"]: event.amount("applied")},
    )
    claim = facts.claims[event.event_id] = Claim(
        claim_id=event.event_id,
        reference_number=d.get("reference") or "opening balance",
        member_id=facts.member_id,
        plan_type=schedule.plan_type,
        schedule_id=schedule.schedule_id,
        billing_provider=d["source"],
        status="opening_balance",
        release_date=None,
        lines=(line,),
        position=event.position,
        events=[event.event_id],
        opening=True,
    )
    claim.ineligible_lines = ineligible_lines(claim, facts.enrollments, facts.schedules)
