"""Answers of the claims-accumulator queries (api.md: `/v1/members/{member_id}/accumulators`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from contracts.claim_events import ClaimAdjudicated, ClaimStatus
from contracts.decimals import DecimalString, MoneyString, UnitsString, money_text, units_text
from contracts.fields import Identifier, LedgerDate


class AccumulatorPeriodOut(BaseModel):
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
    schedule_amount: DecimalString = Field(description="The accumulator's amount in its schedule.")
    applied_amount: DecimalString = Field(
        description="What paid and released claims applied in the period (accumulation.md 4.2)."
    )
    remaining_amount: DecimalString = Field(description="schedule amount - applied, never below 0")
    period: AccumulatorPeriodOut = Field(
        description="The benefit period holding the effective date."
    )
    eligible: bool = Field(
        description="The member is enrolled in the schedule on the effective date; false for a "
        "schedule shown for a claim paid outside eligibility (accumulation.md 4.1)."
    )

    @field_serializer("schedule_amount", "applied_amount", "remaining_amount", when_used="json")
    def _figures(self, value: Decimal) -> str:
        """Days (day and reversion accumulators) normalized, money with 2 decimals."""
        return units_text(value) if self.type in ("day", "reversion") else money_text(value)


class CobRow(BaseModel):
    plan_type: str
    schedule_id: str
    code: str
    description: str
    level: Literal["individual", "family"]
    schedule_amount: MoneyString
    bank_amount: MoneyString = Field(description="savings banked while this plan paid as secondary")
    period: AccumulatorPeriodOut
    eligible: bool = Field(description="As on an accumulator row.")


class AccumulatorList(BaseModel):
    member_id: str
    effective_date: date
    position: int = Field(description="The last ledger position the answer reflects.")
    items: list[AccumulatorRow]
    cob: list[CobRow]


class SimulatedClaim(ClaimAdjudicated):
    """The `data` of a `claim.adjudicated`, as a client would record it: `member_id` may be left
    out (the path names the member; 422 when it differs), and so may the ids, the billing
    provider and the status (the claim is counted as paid whatever its status)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "member_id": "M-1",
                    "plan_type": "medical",
                    "lines": [
                        {
                            "line_number": 1,
                            "from_date": "2026-02-10",
                            "thru_date": "2026-02-10",
                            "allowed_amount": "250.00",
                        }
                    ],
                }
            ]
        },
    )

    claim_id: Identifier = "simulated"
    reference_number: Identifier = "simulated"
    # optional here only: the subclass keeps every other field of the event, so a claim body a
    # client records is always one the simulation takes
    member_id: Identifier | None = Field(  # type: ignore[assignment]
        default=None, description="The path's member when given (422 when it differs)."
    )
    billing_provider: Annotated[str, Field(min_length=1, max_length=200)] = "simulated"
    status: ClaimStatus = Field(default="paid", description="Counted as paid whatever it says.")


class SimulateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "effective_date": "2026-02-10",
                    "claim": {
                        "plan_type": "medical",
                        "lines": [
                            {
                                "line_number": 1,
                                "from_date": "2026-02-10",
                                "thru_date": "2026-02-10",
                                "allowed_amount": "250.00",
                            }
                        ],
                    },
                }
            ]
        },
    )

    effective_date: LedgerDate | None = Field(
        default=None, description="The day whose benefit period is shown (default today)."
    )
    claim: SimulatedClaim = Field(
        description="Counted as if paid; lines without `applied` are filled by the cost-share "
        "rule (accumulation.md 4.4)."
    )


class AppliedOut(BaseModel):
    accumulator_code: str
    amount: DecimalString = Field(
        description="Days for day and reversion accumulators (normalized), else money (2 decimals)."
    )


class ClaimLineShare(BaseModel):
    """How one line of the simulated claim is shared (accumulation.md 4.4)."""

    line_number: int
    deductible: MoneyString = Field(description="What the member pays toward the deductible.")
    coinsurance: MoneyString = Field(description="The member's share of the rest.")
    member_total: MoneyString = Field(description="deductible + coinsurance, capped.")
    plan_paid: MoneyString
    uncovered_days: int = Field(default=0, description="Days beyond the day accumulator.")
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
    amount: DecimalString = Field(
        description="Days for day and reversion accumulators (normalized), else money (2 decimals)."
    )
    eligible: bool = Field(
        description="The member was enrolled in the claim's schedule on the line's from-date."
    )
    oop_amount: MoneyString | None = Field(
        default=None,
        description="COB detail only: the out-of-pocket amount the member owes on the line (its "
        "patient_responsibility; null when the adjudicator gave none).",
    )


class DayOut(BaseModel):
    date: date
    day_number: int = Field(description="The day's number in the benefit period, from 1.")
    reversion_level: str | None
    coinsurance_percent: UnitsString | None


class AccumulatorDetail(BaseModel):
    member_id: str
    effective_date: date
    position: int
    accumulator: AccumulatorRow | CobRow
    claims: list[ClaimOfAccumulator]
    days: list[DayOut]
