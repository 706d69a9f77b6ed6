"""Answers of the claims-accumulator queries (api.md: `/v1/members/{member_id}/accumulators`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.events import ClaimLine, ClaimStatus, Identifier


class PeriodOut(BaseModel):
    start: date | None
    end: date | None


class AccumulatorRow(BaseModel):
    plan_type: str
    schedule_id: str
    type: Literal["deductible", "maximum", "day", "reversion", "cob"]
    code: str
    description: str
    kind: Literal["out_of_pocket", "benefit"] | None = None
    level: Literal["individual", "family"]
    network: Literal["in", "out", "any"]
    illness: str | None
    tooth: str | None
    schedule_amount: Decimal
    applied_amount: Decimal
    remaining_amount: Decimal = Field(description="schedule amount - applied, never below 0")
    period: PeriodOut


class CobRow(BaseModel):
    plan_type: str
    schedule_id: str
    code: str
    description: str
    level: Literal["individual", "family"]
    schedule_amount: Decimal
    bank_amount: Decimal = Field(description="savings banked while this plan paid as secondary")
    period: PeriodOut


class AccumulatorList(BaseModel):
    member_id: str
    effective_date: date
    position: int
    items: list[AccumulatorRow]
    cob: list[CobRow]


class SimulatedClaim(BaseModel):
    """A claim as `claim.adjudicated` has it; ids, provider and status may be left out."""

    model_config = ConfigDict(extra="forbid")

    claim_id: Identifier = "simulated"
    reference_number: Identifier = "simulated"
    plan_type: Identifier
    billing_provider: Annotated[str, Field(min_length=1, max_length=200)] = "simulated"
    status: ClaimStatus = "paid"
    lines: Annotated[list[ClaimLine], Field(min_length=1, max_length=500)]


class SimulateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_date: date | None = None
    claim: SimulatedClaim


class AppliedOut(BaseModel):
    accumulator_code: str
    amount: Decimal


class ClaimLineShare(BaseModel):
    line_number: int
    deductible: Decimal
    coinsurance: Decimal
    member_total: Decimal
    plan_paid: Decimal
    uncovered_days: int = 0
    applied: list[AppliedOut]


class SimulationOut(AccumulatorList):
    claim_lines: list[ClaimLineShare]


class ClaimOfAccumulator(BaseModel):
    claim_id: str
    reference_number: str
    status: str
    billing_provider: str
    release_date: date | None
    member_id: str
    line_number: int
    from_date: date
    thru_date: date
    amount: Decimal


class DayOut(BaseModel):
    date: date
    day_number: int
    reversion_level: str | None
    coinsurance_percent: Decimal | None


class AccumulatorDetail(BaseModel):
    member_id: str
    effective_date: date
    position: int
    accumulator: AccumulatorRow | CobRow
    claims: list[ClaimOfAccumulator]
    days: list[DayOut]
