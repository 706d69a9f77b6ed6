"""Pydantic models of the opening balances another system hands over (accumulation.md 2.17)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from contracts.decimals import DecimalJsonSchema
from contracts.fields import Identifier, Strict, Units, example

SignedUnits = Annotated[
    Decimal,
    Field(allow_inf_nan=False, max_digits=18, decimal_places=6),
    DecimalJsonSchema(),
]


class AccumulationOpeningBalance(Strict):
    """The raw balance B_k of a key at the end of the period holding `as_of`, as another system
    computed it (a clinic or payer migrating mid-period; accumulation.md 2.17). From the next
    period the balance continues from it; the key's own visits up to that period's end are taken
    as included. A later opening balance of the same key replaces an earlier one."""

    model_config = example(
        member_id="M-1",
        payer_id="P-1",
        authorization_number="AUTH-1001",
        service_code="T1019",
        as_of="2026-02-14",
        balance="6.5",
        source="previous scheduling system",
        reference="export 2026-02-15",
    )

    member_id: Identifier
    payer_id: Identifier
    authorization_number: Identifier
    service_code: Identifier = Field(
        description="The key's service code, or its pool's name (accumulation.md 2.13)."
    )
    as_of: date = Field(description="A day of the period whose closing balance this is.")
    balance: SignedUnits = Field(
        description="The raw balance at the end of that period; below 0 for negative accrual."
    )
    source: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="The system the figure comes from."
    )
    reference: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class AccumulatorOpeningBalance(Strict):
    """Where another system left a claims accumulator (accumulation.md 2.17): `applied` as of a
    date, for one member's accumulator (`member_id`) or a family-level one (`family_id`, not
    both). From then on applied = that figure + the claims with lines after `as_of` in the
    period; lines on or before it are taken as included in the figure."""

    model_config = example(
        member_id="M-1",
        schedule_id="S-MED-2026",
        accumulator_code="DED",
        as_of="2026-03-31",
        applied="350.00",
        source="previous claims system",
    )

    member_id: Identifier | None = Field(
        default=None, description="The member, for an individual accumulator."
    )
    family_id: Identifier | None = Field(
        default=None, description="The family, for a family-level accumulator (instead of member)."
    )
    schedule_id: Identifier
    accumulator_code: Identifier
    illness: Identifier | None = Field(
        default=None, description="For an accumulator kept per illness: which one."
    )
    tooth: Identifier | None = Field(
        default=None, description="For an accumulator kept per tooth: which one."
    )
    as_of: date = Field(
        description="The day the figure is valid on (its period is the one holding it)."
    )
    applied: Units = Field(description="Applied in the period up to `as_of`: money, or days.")
    source: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Where the figure comes from (the system migrated from)."
    )
    reference: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="The source's reference of the figure."
    )
