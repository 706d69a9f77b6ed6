"""Pydantic models of the authorization events: lines, pools, pacing caps (accumulation.md 2)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from contracts.fields import (
    Frequency,
    Identifier,
    Strict,
    Units,
    Weekday,
    example,
    field_problem,
)

MAX_CAPS = 10  # pacing caps of one line: a bound, not a business rule


class Cap(Strict):
    """A pacing cap (accumulation.md 2.14): at most `units` a day or a week (from the payer's
    `week_starts_on`), counting only visits on `days` when given. Units beyond it still count as
    used and are allocated as unauthorized with the reason `cap_exceeded`."""

    per: Literal["day", "week"] = Field(description="The cap's window: one day or one week.")
    units: Units = Field(gt=0, description="The most units a window may use.")
    days: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = Field(
        default=None,
        description="Only visits on these weekdays count towards and are held to the cap "
        "(default: every day).",
    )

    @model_validator(mode="after")
    def _distinct_days(self) -> Cap:
        if self.days is not None and len(set(self.days)) != len(self.days):
            raise ValueError("days names a weekday twice")
        return self


def _distinct_caps(caps: list[Cap] | None) -> list[Cap] | None:
    """Two caps of one line with the same window and days would be one cap written twice."""
    seen: set[tuple[str, frozenset[str] | None]] = set()
    for index, cap in enumerate(caps or ()):
        window = (cap.per, frozenset(cap.days) if cap.days is not None else None)
        if window in seen:
            raise ValueError(f"cap {index} repeats the window and days of an earlier cap")
        seen.add(window)
    return caps


def _distinct_codes(codes: list[str]) -> list[str]:
    if len(set(codes)) != len(codes):
        raise ValueError("service codes must be distinct")
    return codes


ServiceCodeList = Annotated[
    list[Identifier], Field(min_length=1, max_length=100), AfterValidator(_distinct_codes)
]


class AuthorizationGranted(Strict):
    """One regular authorization line: `units` per period of `frequency` for one service code,
    from `start_date` through `end_date` (inclusive)."""

    model_config = example(
        authorization_id="AUTH-1001-L1",
        authorization_number="AUTH-1001",
        member_id="M-1",
        payer_id="P-1",
        service_code="T1019",
        frequency="week",
        units="10",
        start_date="2026-01-04",
        end_date="2026-06-27",
    )

    authorization_id: Identifier = Field(
        description="The line's own id, unique in the tenant; amendments and voids name it."
    )
    authorization_number: Identifier = Field(
        description="The payer's authorization number, shared by the lines of one "
        "authorization; with the service code it names the accumulation key."
    )
    member_id: Identifier
    payer_id: Identifier
    service_code: Identifier | None = Field(
        default=None,
        description="The one service code the line grants; or, instead, `service_codes` and "
        "`pool` (accumulation.md 2.13).",
    )
    service_codes: ServiceCodeList | None = Field(
        default=None,
        description="A shared pool: visits of every listed code draw from the line's units, on "
        "the key (authorization number, `pool`). Given with `pool`, instead of `service_code`.",
    )
    pool: Identifier | None = Field(
        default=None,
        description="The pool's name: it stands where a service code stands in every answer "
        "and URL. A code belongs to at most one key per authorization number and member.",
    )
    frequency: Frequency = Field(
        description="The period `units` are granted for: a day, a week (from the payer's "
        "`week_starts_on`), a calendar month, or the whole span as one period."
    )
    units: Units = Field(description="Units granted for every period the line overlaps.")
    start_date: date
    end_date: date = Field(description="The last day of the line (inclusive).")
    caps: Annotated[
        list[Cap] | None, Field(max_length=MAX_CAPS), AfterValidator(_distinct_caps)
    ] = Field(
        default=None,
        description="Pacing caps inside the line's periods (accumulation.md 2.14), e.g. at most "
        "10 units a week inside a monthly authorization.",
    )

    @model_validator(mode="after")
    def _end_not_before_start(self) -> AuthorizationGranted:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self

    @model_validator(mode="after")
    def _one_code_or_a_pool(self) -> AuthorizationGranted:
        problems: list[tuple[str, str]] = []
        if self.service_code is not None and (self.pool or self.service_codes) is not None:
            problems.append(
                ("service_code", "give service_code, or pool with service_codes, not both")
            )
        elif self.service_code is None and self.pool is None and self.service_codes is None:
            problems.append(("service_code", "required (or pool with service_codes)"))
        elif self.service_code is None and self.pool is None:
            problems.append(("pool", "required with service_codes: the pool's name"))
        elif self.service_code is None and self.service_codes is None:
            problems.append(("service_codes", "required with pool: the codes it shares"))
        if problems:
            raise field_problem("AuthorizationGranted", problems)
        return self

    @property
    def key_code(self) -> str:
        """What stands for a service code in the key: the code, or the pool's name."""
        code = self.service_code if self.service_code is not None else self.pool
        assert code is not None, "validated: a service code or a pool"
        return code


class AuthorizationAmended(Strict):
    """Changes a line for its whole span, retroactively; at least one of `units`, `start_date`,
    `end_date`."""

    model_config = example(authorization_id="AUTH-1001-L1", units="8")

    authorization_id: Identifier = Field(
        description="The line, as `authorization.granted` named it."
    )
    units: Units | None = Field(default=None, description="The new units per period.")
    start_date: date | None = None
    end_date: date | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> AuthorizationAmended:
        if self.units is None and self.start_date is None and self.end_date is None:
            raise ValueError("an amendment needs at least one of units, start_date, end_date")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class AuthorizationVoided(Strict):
    """Voids a line: it keeps its key and dates but grants 0 units from now on and for the past."""

    model_config = example(authorization_id="AUTH-1001-L1", reason="issued in error")

    authorization_id: Identifier = Field(
        description="The line, as `authorization.granted` named it."
    )
    reason: str | None = Field(default=None, max_length=1000)


class AuthorizationServiceRemoved(Strict):
    """Removes a service code from every line of an authorization number of the member."""

    model_config = example(member_id="M-1", authorization_number="AUTH-1001", service_code="T1019")

    member_id: Identifier
    authorization_number: Identifier
    service_code: Identifier
