"""Answers of the benefit-limit queries (api.md: `GET /v1/members/{member_id}/benefits`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_serializer

from contracts.decimals import (
    DecimalString,
    FractionString,
    UnitsString,
    money,
    money_text,
    normalized,
    units_text,
)


class BenefitPeriodOut(BaseModel):
    type: Literal["calendar_year", "plan_year", "anniversary", "lifetime", "rolling", "episode"]
    start: date | None = Field(description="first day of the period; null for a lifetime limit")
    end: date | None = Field(description="last day of the period; null for a lifetime limit")
    days: int | None = Field(
        default=None, description="rolling and episode: the period's length in days"
    )
    open: bool = Field(
        default=True,
        description="false for an episode limit on a date in no episode: the period is the "
        "one a counted visit on that date would open, and nothing is used",
    )


class VerificationOut(BaseModel):
    event_id: str
    as_of: date
    used: DecimalString = Field(
        description="In the limit's unit: money with 2 decimals for `amount`, else normalized."
    )
    source: str
    reference: str | None = None


def in_unit(value: Decimal, unit: str) -> Decimal:
    """A figure of a limit's unit ready to write: money for `amount`, else units (for fields
    whose model does not know the unit)."""
    return money(value) if unit == "amount" else normalized(value)


def _in_unit(value: Decimal, unit: str) -> str:
    """A limit's figure as the formatting rule writes it: money for `amount`, else units."""
    return money_text(value) if unit == "amount" else units_text(value)


class BenefitItem(BaseModel):
    benefit_id: str
    benefit_code: str
    payer_id: str
    service_codes: list[str]
    period: BenefitPeriodOut = Field(description="The period holding `as_of`.")
    limit: UnitsString
    unit: Literal["visits", "units", "amount"]
    used: UnitsString = Field(
        description="Used in the period: the verification in effect plus own visits after it."
    )
    remaining: UnitsString = Field(description="limit - used, never below 0")
    exhausted: bool = Field(description="Nothing remains.")
    reconciliation: bool = Field(
        description="own visits on or before the verification date exceed the verified figure"
    )
    thresholds: list[FractionString] = Field(
        description="As the limit defined them (fractions: 4 decimals)."
    )
    verification: VerificationOut | None = Field(
        description="the payer's report in effect: used counts it plus own visits after it"
    )

    @field_serializer("limit", "used", "remaining", when_used="json")
    def _figures(self, value: Decimal) -> str:
        return _in_unit(value, self.unit)


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
        description="what the visit uses: 1 visit, its units, or 0.00 for amount"
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
    limit: UnitsString
    unit: Literal["visits", "units", "amount"]
    used: UnitsString
    remaining: UnitsString
    fraction_used: FractionString = Field(description="used / limit, 4 decimals.")
    exhausted: bool
    reconciliation: bool

    @field_serializer("limit", "used", "remaining", when_used="json")
    def _figures(self, value: Decimal) -> str:
        return _in_unit(value, self.unit)


class NearLimitReport(BaseModel):
    as_of: date
    threshold: FractionString = Field(description="The share of the limit asked for.")
    position: int = Field(description="The last ledger position the answer reflects.")
    items: list[NearLimitItem]
