"""Decimals as the contract writes them, JSON strings such as `"7.5"`, in every JSON Schema, and
the one formatting rule of every answer (api.md, Conventions):

- units, hours, visits and days: normalized, without trailing zeros or exponent (`"2.5"`,
  `"1000"`, `"0"`);
- money: half up to 2 decimals (`"200.00"`);
- computed fractions (a share used): half up to 4 decimals (`"0.6667"`).

Arithmetic stays exact; the rule applies only where a figure is written out, through the
`UnitsString`, `MoneyString` and `FractionString` types of the answer models (JSON serialization
only) or, for derived events stored as JSON, the `*_text` functions.

Pydantic documents a `Decimal` as "a number or a string" on input and as a bare string on
output. The contract says string, so the schema says string, with a pattern drawn from the
field's own constraints (sign, digits). Only the documentation changes: a field still accepts
what it accepted before (a JSON number too).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Annotated, Any, cast

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, PlainSerializer
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

# more digits than any figure the ledger holds (18) or derives: formatting never rounds units
_EXACT = Context(prec=100)
CENT = Decimal("0.01")
FRACTION_PLACES = Decimal("0.0001")


def normalized(value: Decimal) -> Decimal:
    """Units, visits, days: the same number without trailing zeros (`2.50` -> `2.5`), never an
    exponent (`1E+3` -> `1000`), zero as `0` (never `-0` or `0.000`)."""
    if not value.is_finite():
        return value
    if value.is_zero():
        return Decimal(0)
    value = value.normalize(_EXACT)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite decimal
    return value.quantize(Decimal(1), context=_EXACT) if exponent > 0 else value


def _rounded(value: Decimal, places: Decimal) -> Decimal:
    if not value.is_finite():
        return value
    rounded = value.quantize(places, rounding=ROUND_HALF_UP, context=_EXACT)
    return rounded.copy_abs() if rounded.is_zero() else rounded  # never "-0.00"


def money(value: Decimal) -> Decimal:
    """Money: half up to cents (`1000` -> `1000.00`, `33.335` -> `33.34`)."""
    return _rounded(value, CENT)


def fraction(value: Decimal) -> Decimal:
    """A computed share: half up to 4 decimals (`2/3` -> `0.6667`)."""
    return _rounded(value, FRACTION_PLACES)


def units_text(value: Decimal) -> str:
    """`normalized` as text. Answers write many of these: plain decimals take a short path."""
    text = str(value)
    if "E" in text or "N" in text or "n" in text:  # exponent, NaN, sNaN, Infinity
        return format(normalized(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def money_text(value: Decimal) -> str:
    return format(money(value), "f")


def fraction_text(value: Decimal) -> str:
    return format(fraction(value), "f")


class Formatted:
    """Annotated marker: write this `Decimal` in JSON answers by one rule (`*_text`) of this
    module."""

    def __init__(self, rule: Callable[[Decimal], str]) -> None:
        self.rule = rule

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        serialization = core_schema.plain_serializer_function_ser_schema(
            self.rule,
            when_used="json",
            return_schema=core_schema.str_schema(),
        )
        return cast(CoreSchema, {**handler(source), "serialization": serialization})


DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"


def _not_negative(schema: dict[str, Any]) -> bool:
    lower = schema.get("ge", schema.get("gt"))
    return lower is not None and Decimal(lower) >= 0


def decimal_pattern(schema: dict[str, Any]) -> str:
    """The pattern of a decimal core schema's canonical text: `-` only where negatives are
    allowed, digits bounded by `max_digits` and `decimal_places` where the field sets them."""
    sign = "" if _not_negative(schema) else "-?"
    places = schema.get("decimal_places")
    digits = schema.get("max_digits")
    whole = r"\d+" if digits is None or places is None else rf"\d{{1,{digits - places}}}"
    if places == 0:
        return rf"^{sign}{whole}$"
    fraction = r"\d+" if places is None else rf"\d{{1,{places}}}"
    return rf"^{sign}{whole}(\.{fraction})?$"


class DecimalJsonSchema:
    """Annotated marker: document this `Decimal` as a JSON string with a pattern."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        assert schema["type"] == "decimal", "DecimalJsonSchema marks Decimal fields only"
        return {"type": "string", "format": "decimal", "pattern": decimal_pattern(dict(schema))}


def plain(value: Decimal) -> str:
    """Positional notation, never an exponent: `1E+2` answers "100", `0E-6` answers "0.000000"."""
    return format(value, "f")


DecimalString = Annotated[
    Decimal, DecimalJsonSchema(), PlainSerializer(plain, return_type=str, when_used="json")
]
"""A `Decimal` that the JSON Schema shows as a string such as `"7.5"` (answers and inputs),
written in positional notation as its pattern says."""
UnitsString = Annotated[Decimal, Formatted(units_text), DecimalJsonSchema()]
"""Units, visits or days in an answer: normalized (`"2.5"`, `"1000"`)."""
MoneyString = Annotated[Decimal, Formatted(money_text), DecimalJsonSchema()]
"""Money in an answer: 2 decimals (`"200.00"`)."""
FractionString = Annotated[Decimal, Formatted(fraction_text), DecimalJsonSchema()]
"""A computed share in an answer: 4 decimals (`"0.6667"`)."""
