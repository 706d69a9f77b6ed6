"""Matches a payer's reported benefits to the member's benefit limits and proposes the
`benefit.usage_verified` events that would align the ledger (pure; accumulation.md section 5).

Matching, for each reported benefit that is a limitation (deductibles and out-of-pocket figures
are listed as unmatched: claims accumulators follow adjudicated claims, not reports):
1. its name (X12 EB05, FHIR `item.name`) equals a limit's `benefit_id`: that limit;
2. else the limits whose `benefit_code` is one of its codes (X12 EB03 service types, FHIR
   `item.category` codes), or one of whose service codes is its procedure code (X12 EB13,
   FHIR `item.productOrService`), after the payer's `code_map` translated its codes.
Only a limit of the same measure (visits, units, money) matches. Exactly one candidate is a
match; none, several, or a limit another reported benefit already matched is unmatched, with
the reason. The ledger's used is the limit's as of the report's date; the difference is
reported - ledger, and a difference other than 0 proposes a verification of the reported figure
as of that date, with an id derived from the report's content and the benefit: recording the
same report twice records nothing new.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.interop.model import Report, Reported
from services.projections.core.benefits import BenefitStatus

ID_NAMESPACE = uuid.UUID("6f1d3c52-8a0e-5b7e-9c1d-2f4e6a8b0c17")  # reconciliation event ids


@dataclass(frozen=True)
class Match:
    reported: Reported
    status: BenefitStatus

    @property
    def difference(self) -> Decimal:
        assert self.reported.used is not None
        return self.reported.used - self.status.used


@dataclass(frozen=True)
class Unmatched:
    reported: Reported
    reason: str


@dataclass(frozen=True)
class Reconciliation:
    matches: tuple[Match, ...]
    unmatched: tuple[Unmatched, ...]


def reconcile(
    report: Report, statuses: Sequence[BenefitStatus], code_map: Mapping[str, str]
) -> Reconciliation:
    matches: list[Match] = []
    unmatched: list[Unmatched] = []
    taken: dict[str, int] = {}
    for reported in report.benefits:
        found = _match(reported, statuses, code_map)
        if isinstance(found, str):
            unmatched.append(Unmatched(reported, found))
        elif found.limit.benefit_id in taken:
            earlier = taken[found.limit.benefit_id]
            unmatched.append(
                Unmatched(
                    reported,
                    f"benefit {found.limit.benefit_id} is matched by reported benefit "
                    f"{earlier} already",
                )
            )
        else:
            taken[found.limit.benefit_id] = reported.index
            matches.append(Match(reported, found))
    return Reconciliation(tuple(matches), tuple(unmatched))


def _match(
    reported: Reported, statuses: Sequence[BenefitStatus], code_map: Mapping[str, str]
) -> BenefitStatus | str:
    if reported.kind != "limit":
        kind = reported.kind.replace("_", "-")
        return f"a {kind} figure: claims accumulators follow adjudicated claims, not reports"
    if reported.used is None:
        return "the report gives no used figure (nor limit and remaining)"
    same_measure = [s for s in statuses if s.limit.unit == reported.measure]
    named = [s for s in same_measure if s.limit.benefit_id == reported.name]
    if named:
        return named[0]
    codes = set(reported.codes) | {code_map[c] for c in reported.codes if c in code_map}
    candidates = [
        s for s in same_measure if s.limit.benefit_code in codes or s.limit.service_codes & codes
    ]
    if not candidates:
        shown = ", ".join(sorted(codes)) or "none"
        return f"no benefit limit in {reported.measure} of the member matches (codes: {shown})"
    if len(candidates) > 1:
        names = ", ".join(s.limit.benefit_id for s in candidates)
        return f"ambiguous: matches benefits {names}; map the payer's code (benefit_code_map)"
    return candidates[0]


def event_id(tenant: str, member_id: str, digest: str, benefit_id: str) -> str:
    """The same report (by content) for the same benefit always proposes the same event id."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{tenant}\x1f{member_id}\x1f{digest}\x1f{benefit_id}"))


def proposed_events(
    report: Report, result: Reconciliation, tenant: str, member_id: str, digest: str
) -> list[dict[str, Any]]:
    """`benefit.usage_verified` for every matched benefit whose figures differ."""
    events = []
    for match in result.matches:
        if match.difference == 0:
            continue
        benefit_id = match.status.limit.benefit_id
        data: dict[str, Any] = {
            "benefit_id": benefit_id,
            "as_of": report.as_of.isoformat(),
            "used": format(match.reported.used, "f"),
            "source": report.source,
        }
        if report.reference:
            data["reference"] = report.reference[:200]
        events.append(
            {
                "id": event_id(tenant, member_id, digest, benefit_id),
                "type": "benefit.usage_verified",
                "data": data,
            }
        )
    return events
