"""Answers of the benefit-limit queries (api.md: `GET /v1/members/{member_id}/benefits`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field


class BenefitPeriodOut(BaseModel):
    type: Literal["calendar_year", "plan_year", "anniversary", "lifetime"]
    start: date | None = Field(description="first day of the period; null for a lifetime limit")
    end: date | None = Field(description="last day of the period; null for a lifetime limit")


class VerificationOut(BaseModel):
    event_id: str
    as_of: date
    used: Decimal
    source: str
    reference: str | None = None


class BenefitItem(BaseModel):
    benefit_id: str
    benefit_code: str
    payer_id: str
    service_codes: list[str]
    period: BenefitPeriodOut
    limit: Decimal
    unit: Literal["visits", "units", "amount"]
    used: Decimal
    remaining: Decimal = Field(description="limit - used, never below 0")
    exhausted: bool
    reconciliation: bool = Field(
        description="own visits on or before the verification date exceed the verified figure"
    )
    thresholds: list[Decimal]
    verification: VerificationOut | None = Field(
        description="the payer's report in effect: used counts it plus own visits after it"
    )


class BenefitList(BaseModel):
    member_id: str
    as_of: date
    known_at: datetime
    position: int
    items: list[BenefitItem]


class BenefitVisitOut(BaseModel):
    visit_id: str
    service_date: date
    service_code: str
    amount: Decimal = Field(description="what the visit uses: 1 visit, its units, or 0 for amount")
    counted: bool = Field(
        description="added to used; false when the verification in effect already includes it"
    )
    not_eligible: bool


class BenefitDetail(BenefitItem):
    member_id: str
    as_of: date
    known_at: datetime
    position: int
    visits: list[BenefitVisitOut]
    verifications: list[VerificationOut] = Field(description="the period's, up to as_of")


class NearLimitItem(BaseModel):
    member_id: str
    benefit_id: str
    benefit_code: str
    payer_id: str
    period: BenefitPeriodOut
    limit: Decimal
    unit: Literal["visits", "units", "amount"]
    used: Decimal
    remaining: Decimal
    fraction_used: Decimal
    exhausted: bool
    reconciliation: bool


class NearLimitReport(BaseModel):
    as_of: date
    threshold: Decimal
    position: int
    items: list[NearLimitItem]
