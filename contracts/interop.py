"""The answer of `POST /v1/members/{member_id}/eligibility/reconcile` (api.md: Reconciliation)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.decimals import UnitsString
from contracts.events import EventResult


class PayerReportJson(BaseModel):
    """A payer's FHIR R4 CoverageEligibilityResponse (the other body is an X12 271 as text)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "resourceType": "CoverageEligibilityResponse",
                    "status": "active",
                    "purpose": ["benefit"],
                    "patient": {"reference": "Patient/M-1"},
                    "servicedDate": "2026-06-30",
                    "created": "2026-07-01T09:30:00Z",
                    "request": {"reference": "CoverageEligibilityRequest/r-1"},
                    "outcome": "complete",
                    "insurer": {"reference": "Organization/acme"},
                    "insurance": [],
                }
            ]
        },
    )

    resourceType: Literal["CoverageEligibilityResponse"]


class ReconciledItem(BaseModel):
    benefit_id: str
    reported_used: UnitsString = Field(description="What the payer reported as used.")
    ledger_used: UnitsString = Field(description="The ledger's used as of the report's date.")
    difference: UnitsString = Field(description="reported_used - ledger_used")


class UnmatchedBenefit(BaseModel):
    index: int = Field(description="The reported benefit's place in the report, from 0.")
    kind: Literal["limit", "deductible", "out_of_pocket", "day"]
    name: str | None = Field(description="X12 EB05 or FHIR item.name")
    codes: list[str] = Field(description="Its service type, procedure or category codes.")
    reported_used: UnitsString | None
    reason: str


class ReconcileOut(BaseModel):
    member_id: str
    format: Literal["x12-271", "fhir"]
    as_of: date = Field(description="The report's date: the ledger's used is taken as of it.")
    reference: str | None = Field(description="The report's own reference (BHT03, FHIR id).")
    position: int = Field(description="The last ledger position the comparison reflects.")
    items: list[ReconciledItem]
    unmatched: list[UnmatchedBenefit]
    proposed_events: list[dict[str, Any]] = Field(
        description="`benefit.usage_verified` events, as POST /v1/events takes them, that would "
        "bring the ledger in line; their ids derive from the report's content and the benefit."
    )
    recorded: list[EventResult] = Field(
        description="With record=true: the outcome of each proposed event (`duplicate` when the "
        "same report was recorded before); empty otherwise."
    )
