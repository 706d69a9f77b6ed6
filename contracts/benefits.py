"""Answers of the benefit-limit queries (api.md: `GET /v1/members/{member_id}/benefits`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from contracts.decimals import DecimalString


class BenefitPeriodOut(BaseModel):
    type: Literal["calendar_year", "plan_year", "anniversary", "lifetime"]
    start: date | None = Field(description="first day of the period; null for a lifetime limit")
    end: date | None = Field(description="last day of the period; null for a lifetime limit")


class VerificationOut(BaseModel):
    event_id: str
    as_of: date
    used: DecimalString
    source: str
    reference: str | None = None


class BenefitItem(BaseModel):
    benefit_id: str
    benefit_code: str
    payer_id: str
    service_codes: list[str]
    period: BenefitPeriodOut = Field(description="The period holding `as_of`.")
    limit: DecimalString
    unit: Literal["visits", "units", "amount"]
    used: DecimalString = Field(
        description="Used in the period: the verification in effect plus own visits after it."
    )
    remaining: DecimalString = Field(description="limit - used, never below 0")
    exhausted: bool = Field(description="Nothing remains.")
    reconciliation: bool = Field(
        description="own visits on or before the verification date exceed the verified figure"
    )
    thresholds: list[DecimalString] = Field(description="As the limit defined them.")
    verification: VerificationOut | None = Field(
        description="the payer's report in effect: used counts it plus own visits after it"
    )


class BenefitList(BaseModel):
    member_id: str
    as_of: date
    known_at: datetime
    position: int = Field(description="The last ledger position the answer reflects.")
    items: list[BenefitItem]


class BenefitVisitOut(BaseModel):
    visit_id: str
    service_date: date
    service_code: str
    amount: DecimalString = Field(
        description="what the visit uses: 1 visit, its units, or 0 for amount"
    )
    counted: bool = Field(
        description="added to used; false when the verification in effect already includes it"
    )
    not_eligible: bool


class BenefitDetail(BenefitItem):
    member_id: str
    as_of: date
    known_at: datetime
    position: int = Field(description="The last ledger position the answer reflects.")
    visits: list[BenefitVisitOut]
    verifications: list[VerificationOut] = Field(description="the period's, up to as_of")


class NearLimitItem(BaseModel):
    member_id: str
    benefit_id: str
    benefit_code: str
    payer_id: str
    period: BenefitPeriodOut
    limit: DecimalString
    unit: Literal["visits", "units", "amount"]
    used: DecimalString
    remaining: DecimalString
    fraction_used: DecimalString = Field(description="used / limit.")
    exhausted: bool
    reconciliation: bool


class NearLimitReport(BaseModel):
    as_of: date
    threshold: DecimalString = Field(description="The share of the limit asked for.")
    position: int = Field(description="The last ledger position the answer reflects.")
    items: list[NearLimitItem]
