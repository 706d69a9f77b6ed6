"""X12 271 and FHIR CoverageEligibilityResponse exports and the reconciliation of payer reports
(accumulation.md section 5) through the HTTP API, on SQLite and PostgreSQL.

The exports are read back with parsers that share nothing with the code that wrote them: the 271
with `ansi-x12` (it checks the envelope's counts and control numbers itself), the FHIR resource
with the R4B models of `fhir.resources`. Every figure is compared with the JSON answers of
/benefits and /accumulators as of the same date and position.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import x12
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse

from tests.integration.conftest import Tenant, make_tenant, post_events

AS_OF = "2026-06-30"
PAYER = "payer-1"


def event(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "data": data}


def visit(member: str, day: str, code: str = "S1", units: str = "1") -> dict[str, Any]:
    return event(
        "visit.confirmed", visit_id=f"v-{uuid.uuid4().hex[:8]}", member_id=member,
        payer_id=PAYER, service_code=code, service_date=day, units=units,
    )  # fmt: skip


def facts(member: str) -> list[dict[str, Any]]:
    """30 PT visits a year (12 used), 40 units of S2 (7.5 used), a deductible of 500 (120.50
    applied), an out-of-pocket maximum of 3000 and 10 skilled-nursing days (3 used)."""
    limits = [
        event("benefit.limit_defined", benefit_id="ben-pt", member_id=member, payer_id=PAYER,
              benefit_code="PT", service_codes=["S1"], limit="30", unit="visits",
              period={"type": "calendar_year"}),
        event("benefit.limit_defined", benefit_id="ben-units", member_id=member, payer_id=PAYER,
              benefit_code="OT", service_codes=["S2"], limit="40", unit="units",
              period={"type": "plan_year", "start_month": 4, "start_day": 1}),
    ]  # fmt: skip
    accumulators = [
        {"code": "DED", "description": "deductible", "type": "deductible", "amount": "500"},
        {"code": "OOP", "description": "out of pocket", "type": "maximum", "amount": "3000",
         "kind": "out_of_pocket"},
        {"code": "SNF", "description": "nursing days", "type": "day", "amount": "10"},
    ]  # fmt: skip
    claims = [
        event("accumulator.schedule_defined", schedule_id="MED", plan_type="medical",
              effective_date="2026-01-01", benefit_period={"type": "calendar_year"},
              coinsurance_percent="80", accumulators=accumulators),
        event("member.enrolled", member_id=member, schedule_id="MED", start_date="2026-01-01"),
        event("claim.adjudicated", claim_id=f"c-{member}", reference_number="R-1",
              member_id=member, plan_type="medical", billing_provider="Dr A", status="paid",
              lines=[{"line_number": 1, "from_date": "2026-03-02", "thru_date": "2026-03-04",
                      "allowed_amount": "300.00", "days": 3,
                      "applied": [{"accumulator_code": "DED", "amount": "120.50"},
                                  {"accumulator_code": "OOP", "amount": "150.50"},
                                  {"accumulator_code": "SNF", "amount": "3"}]}]),
    ]  # fmt: skip
    visits = [visit(member, f"2026-0{1 + i % 5}-{10 + i:02d}") for i in range(12)]
    units = [visit(member, "2026-05-05", "S2", "4.5"), visit(member, "2026-05-06", "S2", "3")]
    return [*limits, *claims, *visits, *units]


async def member_with_facts(client: httpx.AsyncClient, tenant: Tenant) -> str:
    member = f"member-{uuid.uuid4().hex[:8]}"
    response = await post_events(client, tenant, facts(member))
    assert response.status_code == 200, response.text
    return member


async def json_answers(
    client: httpx.AsyncClient, tenant: Tenant, member: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    benefits = await client.get(
        f"/v1/members/{member}/benefits", params={"as_of": AS_OF}, headers=tenant.auth("reader")
    )
    accumulators = await client.get(
        f"/v1/members/{member}/accumulators",
        params={"effective_date": AS_OF, "all_plans": "true"},
        headers=tenant.auth("reader"),
    )
    assert benefits.status_code == accumulators.status_code == 200
    return benefits.json(), accumulators.json()


def expected_figures(benefits: dict[str, Any], accumulators: dict[str, Any]) -> dict[str, tuple]:
    """(limit, used, remaining) by benefit id or accumulator code, from the JSON answers."""
    figures = {
        b["benefit_id"]: (Decimal(b["limit"]), Decimal(b["used"]), Decimal(b["remaining"]))
        for b in benefits["items"]
    }
    for a in accumulators["items"]:
        if a["type"] in ("deductible", "day") or a.get("kind") == "out_of_pocket":
            figures[a["code"]] = (
                Decimal(a["schedule_amount"]),
                Decimal(a["applied_amount"]),
                Decimal(a["remaining_amount"]),
            )
    return figures


def element(segment: x12.X12Segment, position: int) -> str:
    value = segment.element(position)
    return value.decode() if value else ""


async def test_x12_271_round_trip(client: httpx.AsyncClient, tenant: Tenant) -> None:
    member = await member_with_facts(client, tenant)
    response = await client.get(
        f"/v1/members/{member}/eligibility/x12-271",
        params={"as_of": AS_OF},
        headers=tenant.auth("reader"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    document = x12.tokenize_x12(response.content)
    interchange = x12.parse_x12_interchange(document)  # raises on a count or control mismatch
    assert interchange.declared_group_count == interchange.actual_group_count == 1
    group = interchange.groups[0]
    assert group.declared_transaction_count == group.actual_transaction_count == 1
    transaction = group.transactions[0]
    assert transaction.declared_segment_count == transaction.actual_segment_count
    assert element(document.find_segments("ST")[0], 3) == "005010X279A1"

    benefits, accumulators = await json_answers(client, tenant, member)
    ref = document.find_segments("REF")[0]
    assert (element(ref, 1), element(ref, 2)) == ("ZZ", str(benefits["position"]))
    assert benefits["position"] == accumulators["position"]
    triples: dict[str, dict[str, Decimal]] = {}
    eb01: dict[str, str] = {}
    for eb in document.find_segments("EB"):
        figure = element(eb, 7) or element(eb, 10)
        triples.setdefault(element(eb, 5), {})[element(eb, 6)] = Decimal(figure)
        eb01[element(eb, 5)] = element(eb, 1) + "/" + (element(eb, 9) or "$")
    expected = expected_figures(benefits, accumulators)
    assert set(triples) == set(expected) == {"ben-pt", "ben-units", "DED", "OOP", "SNF"}
    assert eb01 == {"ben-pt": "F/VS", "ben-units": "F/P6", "DED": "C/$", "OOP": "G/$",
                    "SNF": "F/DY"}  # fmt: skip
    limit_qualifier = {"ben-pt": "23", "ben-units": "22", "DED": "23", "OOP": "23", "SNF": "23"}
    for ident, by_period in triples.items():
        limit, used, remaining = by_period[limit_qualifier[ident]], by_period["24"], by_period["29"]
        assert remaining == limit - used
        assert (limit, used, remaining) == expected[ident]
    assert expected["ben-pt"] == (30, 12, 18)
    assert expected["DED"] == (Decimal("500"), Decimal("120.50"), Decimal("379.50"))


async def test_fhir_round_trip(client: httpx.AsyncClient, tenant: Tenant) -> None:
    member = await member_with_facts(client, tenant)
    response = await client.get(
        f"/v1/members/{member}/fhir/CoverageEligibilityResponse",
        params={"as_of": AS_OF},
        headers=tenant.auth("reader"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    resource = CoverageEligibilityResponse.model_validate_json(response.content)
    benefits, accumulators = await json_answers(client, tenant, member)
    assert resource.identifier[0].value == str(benefits["position"])
    assert resource.patient.identifier.value == member
    assert str(resource.servicedDate) == AS_OF
    raw = json.loads(response.content, parse_float=Decimal)
    assert raw["meta"]["profile"] == [
        "http://hl7.org/fhir/StructureDefinition/CoverageEligibilityResponse|4.0.1"
    ]  # R4, validated with the R4B model that has R4's elements (tests/unit/test_fhir_r4.py)
    found: dict[str, tuple[Decimal, Decimal]] = {}
    types: dict[str, str] = {}
    for insurance in raw["insurance"]:
        for item in insurance["item"]:
            benefit = item["benefit"][0]
            coding = benefit["type"]["coding"][0]
            assert coding["system"] == "http://terminology.hl7.org/CodeSystem/benefit-type"
            types[item["name"]] = coding["code"]
            found[item["name"]] = (figure(benefit, "allowed"), figure(benefit, "used"))
    expected = expected_figures(benefits, accumulators)
    assert found == {ident: (limit, used) for ident, (limit, used, _) in expected.items()}
    assert types == {"ben-pt": "visit", "ben-units": "benefit", "DED": "deductible",
                     "OOP": "benefit", "SNF": "benefit"}  # fmt: skip
    assert raw["insurance"][1]["item"][0]["benefit"][0]["usedMoney"]["value"] == Decimal("120.50")


def figure(benefit: dict[str, Any], name: str) -> Decimal:
    if f"{name}Money" in benefit:
        return Decimal(benefit[f"{name}Money"]["value"])
    if f"{name}UnsignedInt" in benefit:
        return Decimal(benefit[f"{name}UnsignedInt"])
    return Decimal(benefit[f"{name}String"])


def payer_271(member: str, *benefit_segments: str, control: str = "000000901") -> str:
    """A 271 as a payer's clearinghouse sends it: its own envelope, names and codes."""
    body = [
        "ST*271*1001*005010X279A1",
        "BHT*0022*11*PAYER-TRACE-7*20260701*0930",
        "HL*1**20*1",
        "NM1*PR*2*ACME HEALTH*****PI*ACME",
        "HL*2*1*21*1",
        "NM1*1P*2*CLINIC*****XX*1234567893",
        "HL*3*2*22*0",
        f"NM1*IL*1*DOE*JANE****MI*{member}",
        f"DTP*307*D8*{AS_OF.replace('-', '')}",
        "EB*1**30",
        *benefit_segments,
    ]
    segments = [
        f"ISA*00*          *00*          *ZZ*ACME           *ZZ*CLINIC         *260701*0930*^*"
        f"00501*{control}*0*P*:",
        "GS*HB*ACME*CLINIC*20260701*0930*901*X*005010X279A1",
        *body,
        f"SE*{len(body) + 1}*1001",
        "GE*1*901",
        f"IEA*1*{control}",
    ]
    return "~\n".join(segments) + "~\n"


PAYER_PT = [  # the payer counts 14 PT visits (the ledger 12), names them by service type PT
    "EB*F*IND*PT***23***VS*30",
    "EB*F*IND*PT***24***VS*14",
    "EB*F*IND*PT***29***VS*16",
]
PAYER_OTHER = [
    "EB*F*IND*33***24***VS*2",  # chiropractic: the member has no such limit
    "EB*C*IND*30***24*150",  # a deductible: not reconciled
]


async def reconcile(
    client: httpx.AsyncClient, tenant: Tenant, member: str, body: str | bytes,
    record: bool = False, who: str = "writer", content_type: str = "text/plain",
) -> httpx.Response:  # fmt: skip
    return await client.post(
        f"/v1/members/{member}/eligibility/reconcile",
        params={"record": "true" if record else "false"},
        content=body,
        headers={**tenant.auth(who), "content-type": content_type},
    )


async def used_of(client: httpx.AsyncClient, tenant: Tenant, member: str, benefit: str) -> str:
    response = await client.get(
        f"/v1/members/{member}/benefits/{benefit}",
        params={"as_of": AS_OF},
        headers=tenant.auth("reader"),
    )
    used: str = response.json()["used"]
    return used


async def test_reconcile_a_payers_271(client: httpx.AsyncClient, tenant: Tenant) -> None:
    member = await member_with_facts(client, tenant)
    report = payer_271(member, *PAYER_PT, *PAYER_OTHER)
    stored = tenant.ledger_count()

    answer = await reconcile(client, tenant, member, report)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["items"] == [
        {"benefit_id": "ben-pt", "reported_used": "14", "ledger_used": "12", "difference": "2"}
    ]
    assert [(u["codes"], u["kind"]) for u in body["unmatched"]] == [
        (["33"], "limit"),
        (["30"], "deductible"),
    ]
    assert "no benefit limit" in body["unmatched"][0]["reason"]
    [proposed] = body["proposed_events"]
    assert proposed["type"] == "benefit.usage_verified"
    assert proposed["data"] == {"benefit_id": "ben-pt", "as_of": AS_OF, "used": "14",
                                "source": "X12 271", "reference": "PAYER-TRACE-7"}  # fmt: skip
    assert body["recorded"] == []
    assert tenant.ledger_count() == stored  # record=false stores nothing

    recorded = (await reconcile(client, tenant, member, report, record=True)).json()
    assert [r["status"] for r in recorded["recorded"]] == ["recorded"]
    assert recorded["recorded"][0]["id"] == proposed["id"]
    assert await used_of(client, tenant, member, "ben-pt") == "14"
    assert tenant.ledger_count() == stored + 1

    again = (await reconcile(client, tenant, member, report, record=True)).json()
    assert again["items"][0]["difference"] == "0"
    assert again["proposed_events"] == again["recorded"] == []
    assert tenant.ledger_count() == stored + 1  # the same report twice records nothing new


async def test_reconcile_fhir_with_the_payers_code_map(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    member = await member_with_facts(client, tenant)
    settings = event("payer.settings_changed", payer_id=PAYER, benefit_code_map={"physio": "PT"})
    assert (await post_events(client, tenant, [settings])).status_code == 200
    resource = {
        "resourceType": "CoverageEligibilityResponse",
        "id": "payer-response-3",
        "status": "active",
        "purpose": ["benefit"],
        "patient": {"reference": f"Patient/{member}"},
        "servicedDate": AS_OF,
        "created": "2026-07-01T09:30:00Z",
        "request": {"reference": "CoverageEligibilityRequest/r-1"},
        "outcome": "complete",
        "insurer": {"reference": "Organization/acme"},
        "insurance": [{"coverage": {"reference": "Coverage/c-1"}, "item": [{
            "category": {"coding": [{"system": "https://acme.example/codes", "code": "physio"}]},
            "benefit": [{"type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/benefit-type", "code": "visit"}]},
                "allowedUnsignedInt": 30, "usedUnsignedInt": 9}],
        }]}],
    }  # fmt: skip
    body = json.dumps(resource)
    answer = await reconcile(
        client, tenant, member, body, record=True, content_type="application/fhir+json"
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == [
        {"benefit_id": "ben-pt", "reported_used": "9", "ledger_used": "12", "difference": "-3"}
    ]
    assert answer.json()["proposed_events"][0]["data"]["source"] == (
        "FHIR CoverageEligibilityResponse"
    )
    assert await used_of(client, tenant, member, "ben-pt") == "9"


async def test_bad_reports_are_refused_and_store_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    member = await member_with_facts(client, tenant)
    good = payer_271(member, *PAYER_PT)
    stored = tenant.ledger_count()
    cases = {
        "truncated": (good[: len(good) // 2], "text/plain", "missing"),
        "count": (good.replace("SE*14*", "SE*13*"), "text/plain", "SE count"),
        "figure": (good.replace("VS*14", "VS*1x"), "text/plain", "not a decimal"),
        "not x12": ("hello", "text/plain", "ISA"),
        "other member": (payer_271("someone-else", *PAYER_PT), "text/plain", "someone-else"),
        "patient": (json.dumps({"resourceType": "Patient", "id": "p"}), "application/json",
                    "'Patient' is not CoverageEligibilityResponse"),
        "invalid fhir": (json.dumps({"resourceType": "CoverageEligibilityResponse",
                                     "status": 5}), "application/fhir+json", "status"),
    }  # fmt: skip
    for name, (body, content_type, said) in cases.items():
        response = await reconcile(client, tenant, member, body, True, "writer", content_type)
        assert response.status_code == 422, (name, response.text)
        answer = response.json()
        assert answer["error"]["code"] == "invalid_request", name
        assert said in json.dumps(answer), (name, answer)
    assert tenant.ledger_count() == stored
    reader = await reconcile(client, tenant, member, good, record=True, who="reader")
    assert reader.status_code == 403
    assert tenant.ledger_count() == stored


async def test_exports_and_reconciliation_are_per_tenant(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    member = await member_with_facts(client, tenant)
    other = make_tenant(database_url)
    for path in ("eligibility/x12-271", "fhir/CoverageEligibilityResponse"):
        response = await client.get(
            f"/v1/members/{member}/{path}", params={"as_of": AS_OF}, headers=other.auth("reader")
        )
        assert response.status_code == 404, response.text
    response = await reconcile(client, other, member, payer_271(member, *PAYER_PT), record=True)
    assert response.status_code == 404
    assert other.ledger_count() == 0
