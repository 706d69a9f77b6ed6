"""Pydantic models of the payer and tenant settings events (accumulation.md 2.1 and 3)."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from contracts.fields import Fraction, Identifier, Strict, Weekday, example


class PayerSettingsChanged(Strict):
    """A payer's accumulation settings; a field left out keeps its value. A change applies to
    the whole history from the position it was recorded at (accumulation.md 2.1)."""

    model_config = example(payer_id="P-1", allow_accumulation=True, week_starts_on="monday")

    payer_id: Identifier
    allow_accumulation: bool | None = Field(
        default=None,
        description="Units a period leaves unused carry into later periods of the same key "
        "(default false).",
    )
    include_scheduled_units: bool | None = Field(
        default=None,
        description="Scheduled visits, not yet confirmed, count as used (default false).",
    )
    exclude_missed_days: bool | None = Field(
        default=None,
        description="A service date on which every visit of the key was missed uses nothing "
        "(default false: missed visits count as used).",
    )
    week_starts_on: Weekday | None = Field(
        default=None, description="The first day of a `week` period (default sunday)."
    )
    # authorization.renewal_due: a key this many days before its end, or with this share of its
    # authorized units used (defaults 14 and 0.8; accumulation.md section 3)
    renewal_days_before_end: Annotated[int, Field(ge=0, le=366)] | None = Field(
        default=None,
        description="`authorization.renewal_due` is sent this many days before a key ends "
        "(default 14).",
    )
    renewal_used_fraction: Fraction | None = Field(
        default=None,
        description="... or once this share of a key's authorized units is used: more than 0, "
        "at most 1 (default 0.8).",
    )
    unit_minutes: Annotated[int, Field(ge=1, le=1440)] | None = Field(
        default=None,
        description="Minutes in one unit when a visit is confirmed with `clock_in`/`clock_out` "
        "(default 60: hourly units; accumulation.md 2.12).",
    )
    rounding_minutes: Annotated[int, Field(ge=1, le=1440)] | None = Field(
        default=None,
        description="Worked minutes are rounded half up to a multiple of this before they are "
        "divided into units (default 15: 7 minutes round down, 8 round up).",
    )
    authorization_required: (
        Annotated[list[Identifier], Field(max_length=1000)] | Literal["all"] | None
    ) = Field(
        default=None,
        description="Service codes whose visits need an authorization, or `all`: a visit of "
        "such a code that matches none is warned `no_authorization` even when the member has no "
        "line with the payer for its code (default none; `[]` clears it; accumulation.md 3).",
    )
    benefit_code_map: Annotated[dict[Identifier, Identifier], Field(max_length=500)] | None = Field(
        default=None,
        description="How the payer's reports name our benefits: its code (an X12 service "
        "type such as `AE`, a procedure code, a FHIR category code) -> our `benefit_code`, "
        "used when reconciling its 271 or CoverageEligibilityResponse (accumulation.md 5; "
        "`{}` leaves the map as it is).",
    )


@cache
def _time_zones() -> frozenset[str]:
    # `localtime` and `posixrules` name the host's own set-up, not a zone: never a tenant's
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules"}) | {"UTC"}


def _iana_time_zone(name: str) -> str:
    """An IANA time zone name the server's time zone database knows (`America/New_York`)."""
    if name not in _time_zones():
        raise ValueError(f"{name!r} is not an IANA time zone name such as America/New_York")
    return name


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_iana_time_zone)]


class TenantSettingsChanged(Strict):
    """The tenant's own settings; a field left out keeps its value (accumulation.md section 3)."""

    model_config = example(time_zone="America/New_York")

    time_zone: TimeZoneName | None = Field(
        default=None,
        description='The IANA time zone whose date is the tenant\'s "today": the default '
        "`as_of`, the day the tick rolls periods over, and how soon an authorization ends "
        "(default UTC).",
    )

    @model_validator(mode="after")
    def _changes_something(self) -> TenantSettingsChanged:
        if self.time_zone is None:
            raise ValueError("a tenant settings change needs at least one setting: time_zone")
        return self
