"""The periods a benefit limit or a claims schedule starts again on, told apart by `type`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, model_validator

from contracts.fields import Strict


class CalendarYear(Strict):
    """Resets every 1 January."""

    type: Literal["calendar_year"]


class PlanYear(Strict):
    """Resets every year on start_month/start_day. A plan year starting on 29 February starts on
    28 February in the years without one (the reset stays in the month the plan names)."""

    type: Literal["plan_year"]
    start_month: Annotated[int, Field(ge=1, le=12)]
    start_day: Annotated[int, Field(ge=1, le=31)]

    @model_validator(mode="after")
    def _a_real_day(self) -> PlanYear:
        longest = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[self.start_month - 1]
        if self.start_day > longest:
            raise ValueError(
                f"start_day {self.start_day} does not exist in month {self.start_month}"
            )
        return self


class Anniversary(Strict):
    """Resets on the anniversary of anchor_date (the member's enrollment date)."""

    type: Literal["anniversary"]
    anchor_date: date


class Lifetime(Strict):
    """Never resets: one period for the member's whole life."""

    type: Literal["lifetime"]


MAX_SLIDING_DAYS = 3660  # about ten years: a bound, far beyond any payer's rolling limit
SlidingDays = Annotated[int, Field(ge=1, le=MAX_SLIDING_DAYS)]


class Rolling(Strict):
    """Counts the `days` days ending on the date asked about ("20 visits in any 90 days")."""

    type: Literal["rolling"]
    days: SlidingDays = Field(description=f"The window's length, 1 to {MAX_SLIDING_DAYS} days.")


class Episode(Strict):
    """Opens at the first counted visit and lasts `days` days; the next episode opens at the
    first counted visit after it ends."""

    type: Literal["episode"]
    days: SlidingDays = Field(description=f"An episode's length, 1 to {MAX_SLIDING_DAYS} days.")
