"""The pure exports and reconciliation (accumulation.md section 5): the issue's example, "visits:
limit 30, used 12, remaining 18", written as a 271 and a FHIR resource and read back, and the
matching rules of the reconciliation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.interop.fhir_cer import build_response, fhir_json, parse_response
from services.interop.model import Line, Report, Reported, Snapshot
from services.interop.reconcile import proposed_events, reconcile
from services.interop.x12_build import build_271
from services.interop.x12_parse import parse_271
from services.ledger.errors import InvalidRequestError
from services.projections.core.benefits import Limit, PeriodRule, benefit_status

YEAR = (date(2026, 1, 1), date(2026, 12, 31))
VISITS = Line("limit", "ben-1", "PT", "payer-1", ("S1",), "visits", "calendar_year",
              *YEAR, Decimal(30), Decimal(12), Decimal(18))  # fmt: skip
SNAPSHOT = Snapshot("m-1", date(2026, 3, 31), 42, datetime(2026, 4, 1, tzinfo=UTC), (VISITS,))


def test_the_271_carries_the_triple_and_reads_back() -> None:
    text = build_271(SNAPSHOT)
    assert "EB*F*IND*PT**ben-1*23***VS*30**W*HC:S1~" in text
    assert "EB*F*IND*PT**ben-1*24***VS*12**W*HC:S1~" in text
    assert "EB*F*IND*PT**ben-1*29***VS*18**W*HC:S1~" in text
    assert "REF*ZZ*42*LEDGER POSITION~" in text
    report = parse_271(text)
    assert (report.member_id, report.as_of) == ("m-1", date(2026, 3, 31))
    [benefit] = report.benefits
    assert (benefit.name, benefit.measure, benefit.limit, benefit.used) == (
        "ben-1", "visits", Decimal(30), Decimal(12))  # fmt: skip


def test_the_fhir_resource_reads_back() -> None:
    report = parse_response(fhir_json(build_response(SNAPSHOT)))
    [benefit] = report.benefits
    assert (benefit.name, benefit.codes, benefit.limit, benefit.used) == (
        "ben-1", ("PT", "S1"), Decimal(30), Decimal(12))  # fmt: skip


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_a_truncated_271_is_refused(cut: float) -> None:
    text = build_271(SNAPSHOT)
    with pytest.raises(InvalidRequestError):
        parse_271(text[: int(len(text) * cut)])


def limit(benefit_id: str, code: str, unit: str = "visits", services: str = "S1") -> Limit:
    return Limit(benefit_id, "m-1", "payer-1", code, frozenset({services}), Decimal(30), unit,
                 PeriodRule("calendar_year"))  # fmt: skip


def reported(codes: tuple[str, ...], used: str = "14", name: str | None = None) -> Reported:
    return Reported(0, "limit", codes, name, "visits", Decimal(30), Decimal(used))


def statuses(*limits: Limit) -> list:
    return [benefit_status(each, [], [], date(2026, 3, 31)) for each in limits]


def report_of(*benefits: Reported) -> Report:
    return Report("x12-271", "m-1", date(2026, 3, 31), "R-1", benefits)


def test_matching_by_code_by_name_by_map_and_the_unmatched() -> None:
    both = statuses(limit("ben-1", "PT"), limit("ben-2", "PT", services="S2"))
    assert "ambiguous" in reconcile(report_of(reported(("PT",))), both, {}).unmatched[0].reason
    named = reconcile(report_of(reported(("PT",), name="ben-2")), both, {})
    assert named.matches[0].status.limit.benefit_id == "ben-2"
    by_service = reconcile(report_of(reported(("S2",))), both, {})
    assert by_service.matches[0].status.limit.benefit_id == "ben-2"
    mapped = reconcile(report_of(reported(("AE",))), statuses(limit("ben-1", "PT")), {"AE": "PT"})
    assert mapped.matches[0].difference == Decimal(14)
    units = statuses(limit("ben-1", "PT", unit="units"))
    assert (
        "no benefit limit in visits"
        in reconcile(report_of(reported(("PT",))), units, {}).unmatched[0].reason
    )


def test_proposed_ids_are_stable_and_nothing_is_proposed_without_a_difference() -> None:
    one = statuses(limit("ben-1", "PT"))
    report = report_of(reported(("PT",), used="14"))
    first = proposed_events(report, reconcile(report, one, {}), "t", "m-1", "digest")
    second = proposed_events(report, reconcile(report, one, {}), "t", "m-1", "digest")
    assert first == second and first[0]["data"]["used"] == "14"
    other_tenant = proposed_events(report, reconcile(report, one, {}), "u", "m-1", "digest")
    assert other_tenant[0]["id"] != first[0]["id"]
    same = report_of(reported(("PT",), used="0"))
    assert proposed_events(same, reconcile(same, one, {}), "t", "m-1", "d") == []
