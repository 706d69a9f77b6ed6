"""The shared field types, bounds and base model of the event payloads (api.md, "Conventions").

Every event model in contracts/ is built from these: quantities are Decimal, dates are dates,
ids are bounded strings, and a model-level check names the field a client has to fix.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from contracts.decimals import DecimalJsonSchema

Units = Annotated[
    Decimal,
    Field(ge=0, allow_inf_nan=False, max_digits=18, decimal_places=6),
    DecimalJsonSchema(),
]
# ids and codes: 1 to 200 characters, no control characters (NUL cannot be stored on PostgreSQL)
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
# What the periods and the ledger represent: every date of an event or a query lies in these
# years (docs/api.md, "Conventions"); a date outside is refused with 422, never computed with.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


def _in_ledger_years(day: date) -> date:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(f"{day.isoformat()} is outside {EARLIEST_DATE} to {LATEST_DATE}")
    return day


LedgerDate = Annotated[date, AfterValidator(_in_ledger_years)]
"""A date of a request that is not an event (events are checked whole by the ledger)."""
Frequency = Literal["day", "week", "month", "span"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Fraction = Annotated[
    Decimal,
    Field(gt=0, le=1, allow_inf_nan=False, max_digits=7, decimal_places=6),
    DecimalJsonSchema(),
]


def example(**data: Any) -> ConfigDict:
    """A model's configuration with one example of its data, shown in the OpenAPI document
    and the exported JSON Schemas (tests check that every example is valid)."""
    return ConfigDict(json_schema_extra={"examples": [data]})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def field_problem(title: str, problems: list[tuple[str, str]]) -> ValidationError:
    """A model-level check reported at the fields it concerns (`data.clock_out`), not at the
    model as a whole: a client is told exactly which field to fix."""
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("field_rule", message), loc=(name,), input=None
            )
            for name, message in problems
        ],
    )
