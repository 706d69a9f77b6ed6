"""Pydantic models of the visit events, scheduled to billed (accumulation.md 2.1, 2.11, 2.12)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from pydantic import AwareDatetime, Field, model_validator

from contracts.fields import Identifier, Strict, Units, example, field_problem


class Override(Strict):
    """Who allowed a visit beyond the available units, and why (needs the supervisor role)."""

    by: Identifier = Field(description="The supervisor who allowed it.")
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class VisitScheduled(Strict):
    """A visit planned for a service date; its latest recorded state wins (accumulation.md 2.1)."""

    model_config = example(
        visit_id="V-1",
        member_id="M-1",
        payer_id="P-1",
        service_code="T1019",
        service_date="2026-01-06",
        units="4",
        authorization_number="AUTH-1001",
    )

    visit_id: Identifier
    member_id: Identifier
    payer_id: Identifier
    service_code: Identifier
    service_date: date
    units: Units
    authorization_number: Identifier | None = Field(
        default=None,
        description="Match the visit to this authorization; without it, the line of the same "
        "payer and service code covering the service date (accumulation.md 2.2).",
    )
    override: Override | None = Field(
        default=None,
        description="Schedule beyond the available units; the caller needs the supervisor role.",
    )


class VisitRescheduled(Strict):
    """Moves a visit to another date and/or changes its units."""

    model_config = example(visit_id="V-1", service_date="2026-01-07")

    visit_id: Identifier
    service_date: date | None = None
    units: Units | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> VisitRescheduled:
        if self.service_date is None and self.units is None:
            raise ValueError("a reschedule needs service_date or units")
        return self


class VisitConfirmed(Strict):
    """Confirms a scheduled visit; for a visit never scheduled, carries the scheduling fields."""

    model_config = example(visit_id="V-1", units="3.5")

    visit_id: Identifier
    units: Units | None = Field(
        default=None, description="The units actually given (default: the scheduled units)."
    )
    clock_in: AwareDatetime | None = Field(
        default=None,
        description="Instead of `units`: when the work began (RFC 3339 with offset). Units "
        "are the worked minutes rounded to the payer's `rounding_minutes`, half up, divided "
        "by its `unit_minutes` (accumulation.md 2.12). Given with `clock_out`.",
    )
    clock_out: AwareDatetime | None = Field(
        default=None,
        description="When the work ended: after `clock_in`, at most 24 hours later.",
    )
    member_id: Identifier | None = Field(
        default=None, description="For a visit never scheduled, as in `visit.scheduled`."
    )
    payer_id: Identifier | None = Field(
        default=None, description="For a visit never scheduled, as in `visit.scheduled`."
    )
    service_code: Identifier | None = Field(
        default=None, description="For a visit never scheduled, as in `visit.scheduled`."
    )
    service_date: date | None = Field(
        default=None, description="For a visit never scheduled, as in `visit.scheduled`."
    )
    authorization_number: Identifier | None = Field(
        default=None, description="As in `visit.scheduled`."
    )
    override: Override | None = Field(default=None, description="As in `visit.scheduled`.")

    @model_validator(mode="after")
    def _units_or_clock_times(self) -> VisitConfirmed:
        problems: list[tuple[str, str]] = []
        clock_in, clock_out = self.clock_in, self.clock_out
        if self.units is not None and (clock_in or clock_out) is not None:
            problems.append(("units", "give units or clock_in and clock_out, not both"))
        if clock_in is not None and clock_out is None:
            problems.append(("clock_out", "required with clock_in"))
        elif clock_out is not None and clock_in is None:
            problems.append(("clock_in", "required with clock_out"))
        elif clock_in is not None and clock_out is not None:
            if clock_out <= clock_in:
                problems.append(("clock_out", "must be after clock_in"))
            elif clock_out - clock_in > MAX_SHIFT:
                problems.append(("clock_out", "a shift lasts at most 24 hours after clock_in"))
        if problems:
            raise field_problem("VisitConfirmed", problems)
        return self


MAX_SHIFT = timedelta(hours=24)


class VisitMissed(Strict):
    """The member missed the visit: its units still count as used, unless the payer's
    `exclude_missed_days` applies."""

    model_config = example(visit_id="V-1", reason="no show")

    visit_id: Identifier
    reason: str | None = Field(default=None, max_length=1000)


class VisitCancelled(Strict):
    """The visit will not take place: it uses nothing."""

    model_config = example(visit_id="V-1", reason="member in hospital")

    visit_id: Identifier
    reason: str | None = Field(default=None, max_length=1000)


class VisitBilled(Strict):
    """The visit went out on a claim: its allocation as it stands now is frozen (accumulation.md
    2.11). Only a confirmed visit, billed once; a billed visit cannot change after."""

    model_config = example(visit_id="V-1", claim_reference="CLM-2026-0042")

    visit_id: Identifier
    claim_reference: Identifier | None = Field(
        default=None, description="The claim the visit went out on, as the billing system names it."
    )
