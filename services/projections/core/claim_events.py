"""Derived events of claims (issue: claims accumulators): `accumulator.changed` for every
accumulator row a claim event moves (previous and current applied and remaining) and
`accumulator.met` when a deductible, maximum or day accumulator is reached (once per row and
period: an alert mark). Judged per event on the claim's member's rows, family rows included.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from contracts.decimals import money_text, units_text
from services.projections.core.alerts import Alert
from services.projections.core.claim_schedules import schedule_of_claim_data
from services.projections.core.claims import Claim, Row, accumulator_rows
from services.projections.core.facts import LedgerEvent, MemberFacts

ZERO = Decimal(0)
ACCUMULATOR_CHANGED = "accumulator.changed"
ACCUMULATOR_MET = "accumulator.met"
CLAIM_EVENT_TYPES = (
    "claim.adjudicated",
    "claim.status_changed",
    "claim.adjusted",
    "claim.voided",
    "accumulator.opening_balance",  # moves its row like a claim (2.17)
)
OPENING_BALANCE = "accumulator.opening_balance"

RowKey = tuple[
    str, str, str | None, str | None, date | None
]  # schedule, code, illness, tooth, start


def claim_dates(facts: MemberFacts, event: LedgerEvent) -> set[date]:
    """The from-dates of the claim's lines, as they were and as the event makes them (an opening
    balance: its date)."""
    if event.type == OPENING_BALANCE:
        return {event.day("as_of")}
    days = {date.fromisoformat(line["from_date"]) for line in event.data.get("lines", ())}
    claim = facts.claims.get(event.data["claim_id"])
    if claim is not None:
        days |= {line.from_date for line in claim.lines}
    return days


def claim_schedules(facts: MemberFacts, event: LedgerEvent) -> set[str]:
    """The schedule a claim event moves (before the event is folded in): the claim's own, or the
    one a new claim will count in (4.1); an opening balance's, its schedule."""
    if event.type == OPENING_BALANCE:
        return {event.data["schedule_id"]}
    claim = facts.claims.get(event.data["claim_id"])
    if claim is not None:
        schedule_id = claim.schedule_id
    else:
        schedule_id = schedule_of_claim_data(
            facts.enrollments, facts.schedules, event.data
        ).schedule_id
    return {schedule_id} if schedule_id is not None else set()


def rows_on(
    facts: MemberFacts,
    schedule_ids: set[str],
    days: set[date],
    family: Mapping[str, list[Claim]],
) -> dict[RowKey, Row]:
    """The member's accumulator rows of these schedules in the periods holding `days`."""
    found: dict[RowKey, Row] = {}
    claims = {**family, facts.member_id: list(facts.claims.values())}
    for schedule_id in sorted(schedule_ids):
        schedule = facts.schedules.get(schedule_id)
        if schedule is None:
            continue
        for day in sorted(days):
            for row in accumulator_rows(schedule, claims, facts.member_id, day):
                key = (schedule_id, row.accumulator.code, row.illness, row.tooth)
                found[(*key, row.period_start)] = row
    return found


def _text(row: Row, value: Decimal) -> str:
    """As the answers write it: days normalized, money with 2 decimals (api.md Conventions)."""
    days = row.accumulator.type in ("day", "reversion")
    return units_text(value) if days else money_text(value)


def _figures(row: Row | None, fresh: Row | None = None) -> dict[str, str]:
    """A row's applied and remaining; a row that did not exist yet had its whole amount left."""
    if row is None:
        assert fresh is not None, "a row new to the event has its fresh state"
        return {"applied": _text(fresh, ZERO), "remaining": _text(fresh, fresh.accumulator.amount)}
    return {"applied": _text(row, row.applied), "remaining": _text(row, row.remaining)}


def _describe(row: Row, member_id: str) -> dict[str, Any]:
    accumulator = row.accumulator
    return {
        "member_id": member_id,
        "plan_type": row.schedule.plan_type,
        "schedule_id": row.schedule.schedule_id,
        "code": accumulator.code,
        "type": accumulator.type,
        "kind": accumulator.kind,
        "level": accumulator.level,
        "network": accumulator.network,
        "illness": row.illness,
        "tooth": row.tooth,
        "period": {
            "start": row.period_start.isoformat() if row.period_start else None,
            "end": row.period_end.isoformat() if row.period_end else None,
        },
    }


def changes(
    member_id: str,
    before: Mapping[RowKey, Row],
    after: Mapping[RowKey, Row],
    event: LedgerEvent,
) -> tuple[list[tuple[str, dict[str, Any]]], list[Alert]]:
    """accumulator.changed for each row whose applied amount moved; accumulator.met candidates."""
    changed: list[tuple[str, dict[str, Any]]] = []
    met: list[Alert] = []
    cause = {
        "claim_id": event.data.get("claim_id"),  # none for an opening balance
        "cause_event_id": event.event_id,
        "position": event.position,
    }
    keys = set(before) | set(after)
    for key in sorted(keys, key=lambda k: (k[0], k[1], k[2] or "", k[3] or "", k[4] or date.min)):
        now, then = after.get(key), before.get(key)
        if now is None:  # a per-illness or per-tooth row whose last claim went away
            assert then is not None
            if then.applied == 0:  # the empty row shown before any illness or tooth had one
                continue
            gone = _figures(None, then)
            data = {**_describe(then, member_id), "previous": _figures(then), "current": gone}
            changed.append((ACCUMULATOR_CHANGED, {**data, **cause}))
            continue
        if then is not None and then.applied == now.applied:
            continue
        if then is None and now.applied == 0:
            continue
        described = _describe(now, member_id)
        changed.append(
            (
                ACCUMULATOR_CHANGED,
                {**described, "previous": _figures(then, now), "current": _figures(now), **cause},
            )
        )
        if now.met and not (then is not None and then.met):
            subject = "|".join(
                (member_id, key[0], key[1], key[2] or "", key[3] or "")
            )  # one mark per row
            start = key[4].isoformat() if key[4] else "lifetime"
            met.append(
                Alert(
                    "accumulator_met",
                    subject,
                    start,
                    ACCUMULATOR_MET,
                    {
                        **described,
                        "schedule_amount": _text(now, now.accumulator.amount),
                        "applied": _text(now, now.applied),
                        **cause,
                    },
                )
            )
    return changed, met
