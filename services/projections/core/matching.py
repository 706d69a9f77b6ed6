"""Matching a visit to the key it draws from (accumulation.md 2.2, 2.11, 2.13; pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from services.projections.core.fact_types import KeyId, Line, Visit
from services.projections.core.facts import MemberFacts


def _match_rank(line: Line) -> tuple[bool, int, str]:
    # active before voided, then the latest start, then the smaller number (decision)
    return (not line.active, -line.start_date.toordinal(), line.authorization_number)


def match_visit(
    lines: Iterable[Line],
    payer_id: str,
    service_code: str,
    service_date: date,
    authorization_number: str | None,
) -> KeyId | None:
    """The key a visit draws from (accumulation.md 2.2), or None when it is unauthorized."""
    lines = list(lines)
    if authorization_number is not None:
        # a code belongs to one key per number (2.13): its own, or the pool that lists it
        return next(
            (
                line.key
                for line in lines
                if line.authorization_number == authorization_number and line.serves(service_code)
            ),
            None,
        )
    covering = [
        line
        for line in lines
        if line.payer_id == payer_id and line.serves(service_code) and line.covers(service_date)
    ]
    if not covering:
        return None
    return min(covering, key=_match_rank).key


def visit_key(lines: Iterable[Line], visit: Visit) -> KeyId | None:
    """The key a visit draws from: the one it was billed on (2.11), else as matched (2.2)."""
    billed = visit.billed
    if billed is not None and billed.allocation is not None:
        return billed.key
    return match_visit(
        lines, visit.payer_id, visit.service_code, visit.service_date, visit.authorization_number
    )


def match_all(facts: MemberFacts) -> dict[str, KeyId | None]:
    """The key every visit of the member draws from, or None (2.2)."""
    lines = list(facts.lines.values())
    return {visit.visit_id: visit_key(lines, visit) for visit in facts.visits.values()}
