"""Decimals are documented as strings with a pattern; what a field accepts does not change."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from contracts.decimals import decimal_pattern
from contracts.events import ClaimLine, PayerSettingsChanged, VisitScheduled
from contracts.queries import PeriodOut


@pytest.mark.parametrize(
    ("constraints", "pattern"),
    [
        ({}, r"^-?\d+(\.\d+)?$"),
        ({"ge": 0, "max_digits": 18, "decimal_places": 6}, r"^\d{1,12}(\.\d{1,6})?$"),
        ({"gt": 0}, r"^\d+(\.\d+)?$"),
        ({"ge": -5}, r"^-?\d+(\.\d+)?$"),
        ({"max_digits": 4, "decimal_places": 0}, r"^-?\d{1,4}$"),
    ],
)
def test_the_pattern_follows_the_constraints(constraints: dict[str, int], pattern: str) -> None:
    assert decimal_pattern(constraints) == pattern


def test_fields_are_strings_in_both_directions() -> None:
    units = VisitScheduled.model_json_schema()["properties"]["units"]
    assert units == {
        "type": "string",
        "format": "decimal",
        "pattern": r"^\d{1,12}(\.\d{1,6})?$",
        "title": "Units",
    }
    fraction = PayerSettingsChanged.model_json_schema()["properties"]["renewal_used_fraction"]
    assert fraction["anyOf"][0]["pattern"] == r"^\d{1,1}(\.\d{1,6})?$"
    money = ClaimLine.model_json_schema()["properties"]["allowed_amount"]
    assert money["pattern"] == r"^\d{1,16}(\.\d{1,2})?$"
    balance = PeriodOut.model_json_schema(mode="serialization")["properties"]["balance"]
    assert (balance["type"], balance["pattern"]) == ("string", r"^-?\d+(\.\d+)?$")
    assert all(re.match(money["pattern"], text) for text in ("0", "250.00", "12.5"))


def test_what_a_field_accepts_is_unchanged() -> None:
    base = {
        "visit_id": "V-1",
        "member_id": "M-1",
        "payer_id": "P-1",
        "service_code": "T1",
        "service_date": "2026-01-06",
    }
    for value in ("4", 4, Decimal("4.0"), "4.5", 4.5):
        assert VisitScheduled.model_validate({**base, "units": value}).units == Decimal(str(value))
    for value in ("-1", "1.0000001", "NaN"):
        with pytest.raises(ValueError):
            VisitScheduled.model_validate({**base, "units": value})
    assert (
        PeriodOut.model_validate(
            {
                "start": "2026-01-04",
                "end": "2026-01-10",
                **dict.fromkeys(
                    ("authorized", "used", "from_regular", "from_accumulation", "unauthorized"), "1"
                ),
                "balance": "-2.5",
            }
        ).model_dump(mode="json")["balance"]
        == "-2.5"
    )
