"""One formatting rule for every answer (api.md Conventions; issue 15): units, visits and days
normalized, money with 2 decimals, computed fractions with 4, both rounded half up, never an
exponent or a negative zero. Arithmetic stays exact; only the written figure is formatted.

| figure | kind | written |
| --- | --- | --- |
| 2.50 | units | "2.5" |
| 1E+3 | units | "1000" |
| 0.000, -0 | units | "0" |
| 0.0000001 | units | "0.0000001" |
| 1000 | money | "1000.00" |
| 33.335 | money | "33.34" |
| -0.001 | money | "0.00" |
| 2/3 | fraction | "0.6667" |
| 0.66665 | fraction | "0.6667" |
| 0.8 | fraction | "0.8000" |
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from contracts.benefits import NearLimitItem
from contracts.decimals import (
    FractionString,
    MoneyString,
    UnitsString,
    fraction_text,
    money_text,
    units_text,
)
from contracts.queries import PeriodOut


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2.50", "2.5"),
        ("1E+3", "1000"),
        ("0.000", "0"),
        ("-0", "0"),
        ("0.0000001", "0.0000001"),
        ("-13.0", "-13"),
        ("123456789012.123456", "123456789012.123456"),
        ("7", "7"),
    ],
)
def test_units_are_normalized(value: str, text: str):
    assert units_text(Decimal(value)) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1000", "1000.00"),
        ("200.00", "200.00"),
        ("33.335", "33.34"),
        ("33.345", "33.35"),
        ("-0.001", "0.00"),
        ("0.005", "0.01"),
        ("-2.5", "-2.50"),
    ],
)
def test_money_has_two_decimals_rounded_half_up(value: str, text: str):
    assert money_text(Decimal(value)) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal(2) / Decimal(3), "0.6667"),
        (Decimal("0.66665"), "0.6667"),
        (Decimal("0.8"), "0.8000"),
        (Decimal("1.25"), "1.2500"),
        (Decimal(1) / Decimal(8), "0.1250"),
    ],
)
def test_fractions_have_four_decimals_rounded_half_up(value: Decimal, text: str):
    assert fraction_text(value) == text


class Answer(BaseModel):
    units: UnitsString
    money: MoneyString
    share: FractionString


def test_answer_models_write_each_kind_by_its_rule_in_json_only():
    answer = Answer(units=Decimal("2.50"), money=Decimal(1000), share=Decimal(2) / Decimal(3))
    assert json.loads(answer.model_dump_json()) == {
        "units": "2.5",
        "money": "1000.00",
        "share": "0.6667",
    }
    assert answer.model_dump()["share"] == Decimal(2) / Decimal(3)  # exact inside


def test_the_schema_still_documents_a_decimal_string():
    for mode in ("validation", "serialization"):
        field = Answer.model_json_schema(mode=mode)["properties"]["money"]
        assert (field["type"], field["format"]) == ("string", "decimal")


def test_an_accumulation_period_writes_units_normalized():
    period = PeriodOut.model_validate(
        {
            "start": "2026-10-04",
            "end": "2026-10-10",
            "authorized": "10.000",
            "used": "8.50",
            "from_regular": "8.50",
            "from_accumulation": "0",
            "unauthorized": "0E-6",
            "balance": "1.50",
        }
    )
    written = json.loads(period.model_dump_json())
    assert [written[name] for name in ("authorized", "used", "unauthorized", "balance")] == [
        "10",
        "8.5",
        "0",
        "1.5",
    ]


@pytest.mark.parametrize(
    ("unit", "limit", "used", "remaining"),
    [("visits", "3", "2", "1"), ("amount", "3.00", "2.00", "1.00")],
)
def test_a_benefit_writes_its_figures_in_its_unit(unit: str, limit: str, used: str, remaining: str):
    item = NearLimitItem.model_validate(
        {
            "member_id": "m",
            "benefit_id": "b",
            "benefit_code": "PT",
            "payer_id": "p",
            "period": {"type": "lifetime", "start": None, "end": None},
            "limit": Decimal(3),
            "unit": unit,
            "used": Decimal(2),
            "remaining": Decimal(1),
            "fraction_used": Decimal(2) / Decimal(3),
            "exhausted": False,
            "reconciliation": False,
        }
    )
    written = json.loads(item.model_dump_json())
    assert (written["limit"], written["used"], written["remaining"]) == (limit, used, remaining)
    assert written["fraction_used"] == "0.6667"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_units_text_is_the_same_number_without_trailing_zeros_or_exponent(value: Decimal):
    text = units_text(value)
    assert Decimal(text) == value
    assert "E" not in text and text != "-0"
    assert "." not in text or not text.endswith(("0", "."))
