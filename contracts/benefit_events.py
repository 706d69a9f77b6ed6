"""Pydantic models of the coverage and benefit-limit events (accumulation.md section 3)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from contracts.decimals import DecimalJsonSchema
from contracts.fields import Fraction, Identifier, Strict, Units, example
from contracts.periods import Anniversary, CalendarYear, Episode, Lifetime, PlanYear, Rolling

BenefitPeriod = Annotated[
    CalendarYear | PlanYear | Anniversary | Lifetime | Rolling | Episode,
    Field(discriminator="type"),
]
BenefitUnit = Literal["visits", "units", "amount"]
Thresholds = Annotated[list[Fraction], Field(min_length=1, max_length=10)]
ServiceCodes = Annotated[list[Identifier], Field(min_length=1, max_length=100)]
Positive = Annotated[
    Decimal,
    Field(gt=0, allow_inf_nan=False, max_digits=18, decimal_places=6),
    DecimalJsonSchema(),
]


def _distinct_sorted(values: list[Decimal] | None) -> list[Decimal] | None:
    if values is None:
        return None
    if len(set(values)) != len(values):
        raise ValueError("thresholds must be distinct")
    return sorted(values)


class CoverageChanged(Strict):
    """coverage.started / coverage.ended: the member is covered by the payer from / through date."""

    model_config = example(member_id="M-1", payer_id="P-1", date="2026-01-01")

    member_id: Identifier
    payer_id: Identifier
    # annotated, not assigned: a default named `date` would hide the type `date`
    date: Annotated[
        date,
        Field(description="The first day covered (coverage.started) or the last (coverage.ended)."),
    ]


class BenefitLimitDefined(Strict):
    """A limit on the member's use of a benefit per period, counted over its service codes."""

    model_config = example(
        benefit_id="B-1",
        member_id="M-1",
        payer_id="P-1",
        benefit_code="PT",
        service_codes=["97110", "97112"],
        limit="20",
        unit="visits",
        period={"type": "calendar_year"},
        thresholds=["0.8"],
    )

    benefit_id: Identifier = Field(description="The limit's own id; later events name it.")
    member_id: Identifier
    payer_id: Identifier
    benefit_code: Identifier = Field(description="The payer's code of the benefit.")
    service_codes: ServiceCodes = Field(description="Visits of these service codes use the limit.")
    limit: Positive = Field(description="How much of `unit` a period allows.")
    unit: BenefitUnit = Field(
        description="What is counted: visits, their units, or an amount of money."
    )
    period: BenefitPeriod = Field(description="When the limit starts again.")
    thresholds: Thresholds | None = Field(
        default=None,
        description="Shares of the limit (more than 0, at most 1) whose crossing sends "
        "`benefit.threshold_crossed`.",
    )

    @model_validator(mode="after")
    def _thresholds(self) -> BenefitLimitDefined:
        self.thresholds = _distinct_sorted(self.thresholds)
        return self


class BenefitLimitAmended(Strict):
    """Changes a defined limit for every period, retroactively (like authorization.amended)."""

    model_config = example(benefit_id="B-1", limit="24")

    benefit_id: Identifier
    service_codes: ServiceCodes | None = None
    limit: Positive | None = None
    period: BenefitPeriod | None = None
    thresholds: Thresholds | None = Field(
        default=None, description="As in `benefit.limit_defined`."
    )

    @model_validator(mode="after")
    def _changes_something(self) -> BenefitLimitAmended:
        fields = (self.service_codes, self.limit, self.period, self.thresholds)
        if all(value is None for value in fields):
            raise ValueError(
                "an amendment needs at least one of service_codes, limit, period, thresholds"
            )
        self.thresholds = _distinct_sorted(self.thresholds)
        return self


class BenefitUsageVerified(Strict):
    """What the payer reported as used (all providers) as of a date."""

    model_config = example(
        benefit_id="B-1", as_of="2026-03-31", used="6", source="payer portal", reference="R-77"
    )

    benefit_id: Identifier
    as_of: date = Field(description="The day the reported figure is valid on.")
    used: Units = Field(description="Used in the period holding `as_of`, in the limit's unit.")
    source: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Where the figure comes from (a portal, a call, an X12 271)."
    )
    reference: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="The source's reference of the report."
    )
