"""Pydantic models of a visit as the ledger allocated it and of the scheduling check
(api.md, Queries; accumulation.md 2.6, 2.8)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.accumulation_answers import POSITION
from contracts.decimals import UnitsString
from contracts.fields import Identifier, LedgerDate, Units


class KeyRef(BaseModel):
    authorization_number: str
    service_code: str


class VisitAllocation(BaseModel):
    """Where the visit's units were drawn from (accumulation.md 2.6)."""

    regular: UnitsString = Field(description="From the period's authorized units.")
    accumulated: UnitsString = Field(description="From the accumulation carried in.")
    unauthorized: UnitsString = Field(description="Beyond both.")
    reason: Literal["cap_exceeded"] | None = Field(
        default=None,
        description="`cap_exceeded` when some of the unauthorized units lie beyond a pacing cap "
        "of the authorization (accumulation.md 2.14).",
    )


class VisitOut(BaseModel):
    visit_id: str
    member_id: str
    payer_id: str
    service_code: str
    status: Literal["scheduled", "confirmed", "missed", "cancelled"]
    service_date: date
    units: UnitsString
    key: KeyRef | None = Field(description="The key the visit matched; null when unauthorized.")
    unauthorized: bool = Field(description="The visit matches no authorization.")
    allocation: VisitAllocation
    override: dict[str, Any] | None = Field(
        description="`{by, reason}` when a supervisor allowed the visit beyond the units."
    )
    not_eligible: bool = Field(
        default=False,
        description="the service date lies outside the member's coverage by the payer "
        "(eligibility is not accumulation: the visit still counts where it counts)",
    )
    billed: bool = Field(
        default=False,
        description="The visit went out on a claim: `allocation` is frozen as it stood then "
        "(accumulation.md 2.11).",
    )
    claim_reference: str | None = Field(
        default=None, description="The claim named by `visit.billed`, if any."
    )
    clock_in: AwareDatetime | None = Field(
        default=None,
        description="The shift's clock times as recorded, when its units come from them "
        "(accumulation.md 2.12); null when the units were given.",
    )
    clock_out: AwareDatetime | None = None
    position: int = Field(
        description="The last ledger position the answer reflects (with `known_at`, the last "
        "one recorded at or before it)."
    )


class SchedulingCheckIn(BaseModel):
    """A proposed visit, checked against the member's key without recording anything."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "member_id": "M-1",
                    "payer_id": "P-1",
                    "service_code": "T1019",
                    "service_date": "2026-01-13",
                    "units": "5",
                }
            ]
        },
    )

    member_id: Identifier
    payer_id: Identifier
    service_code: Identifier
    service_date: LedgerDate
    units: Units = Field(gt=0)
    authorization_number: Identifier | None = Field(
        default=None, description="As in `visit.scheduled`: match this authorization."
    )


class Available(BaseModel):
    regular: UnitsString = Field(description="Regular units left in the visit's period.")
    accumulated: UnitsString = Field(
        description="Accumulated units the period may draw, never more than later periods leave."
    )
    total: UnitsString


class CheckAllocation(BaseModel):
    """How the proposed units would be drawn."""

    regular: UnitsString
    accumulated: UnitsString
    shortfall: UnitsString = Field(description="Units beyond what is available.")


class CheckWarning(BaseModel):
    code: str  # no_authorization | insufficient_units | cap_exceeded | not_eligible
    message: str
    shortfall: UnitsString | None = Field(default=None, description="null for not_eligible")


class SchedulingCheckOut(BaseModel):
    authorization_number: str | None = Field(description="The key matched; null when none.")
    service_code: str = Field(
        description="The matched key's service code, or its shared pool's name "
        "(accumulation.md 2.13); the proposal's code when no key matches."
    )
    position: int = Field(description=POSITION)
    available: Available
    allocation: CheckAllocation
    warnings: list[CheckWarning]
