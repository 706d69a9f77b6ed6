"""Decimals as the contract writes them, JSON strings such as `"7.5"`, in every JSON Schema.

Pydantic documents a `Decimal` as "a number or a string" on input and as a bare string on
output. The contract says string, so the schema says string, with a pattern drawn from the
field's own constraints (sign, digits). Only the documentation changes: a field still accepts
what it accepted before (a JSON number too), and answers are serialized as before.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import GetJsonSchemaHandler, PlainSerializer
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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
