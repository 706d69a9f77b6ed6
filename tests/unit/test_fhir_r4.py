"""The FHIR export is validated with the R4B models of `fhir.resources` (no well-kept pydantic
v2 library has R4 ones: services/interop/fhir_cer.py says why). These hold the R4 definition of
CoverageEligibilityResponse against them, so an R4B model that drifted from R4 fails here."""

from __future__ import annotations

import fhir.resources.R4B.coverageeligibilityresponse as r4b

from services.interop.fhir_cer import R4_PROFILE, build_response
from tests.unit.test_interop import SNAPSHOT

COMMON = ["id", "extension", "modifierExtension"]
# the elements of HL7's StructureDefinition CoverageEligibilityResponse, version 4.0.1 (R4), in
# their order, choice types [x] spelled out
R4_ELEMENTS = {
    "CoverageEligibilityResponse": [
        "id", "meta", "implicitRules", "language", "text", "contained", "extension",
        "modifierExtension", "identifier", "status", "purpose", "patient", "servicedDate",
        "servicedPeriod", "created", "requestor", "request", "outcome", "disposition", "insurer",
        "insurance", "preAuthRef", "form", "error",
    ],
    "CoverageEligibilityResponseInsurance": [
        *COMMON, "coverage", "inforce", "benefitPeriod", "item",
    ],
    "CoverageEligibilityResponseInsuranceItem": [
        *COMMON, "category", "productOrService", "modifier", "provider", "excluded", "name",
        "description", "network", "unit", "term", "benefit", "authorizationRequired",
        "authorizationSupporting", "authorizationUrl",
    ],
    "CoverageEligibilityResponseInsuranceItemBenefit": [
        *COMMON, "type", "allowedUnsignedInt", "allowedString", "allowedMoney",
        "usedUnsignedInt", "usedString", "usedMoney",
    ],
    "CoverageEligibilityResponseError": [*COMMON, "code"],
}  # fmt: skip


def test_the_r4b_model_has_the_r4_elements_of_coverage_eligibility_response() -> None:
    for name, elements in R4_ELEMENTS.items():
        assert getattr(r4b, name).elements_sequence() == elements, name


def test_the_export_declares_r4() -> None:
    resource = build_response(SNAPSHOT)
    assert resource["meta"] == {
        "profile": ["http://hl7.org/fhir/StructureDefinition/CoverageEligibilityResponse|4.0.1"]
    }
    assert resource["meta"]["profile"] == [R4_PROFILE]
