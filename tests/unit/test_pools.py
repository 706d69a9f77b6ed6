"""Shared pools (rules 2.13): one grant's units shared by visits of several service codes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.events import AuthorizationGranted
from services.ledger.errors import ProblemList
from services.ledger.rules import check_event
from services.projections.core.accumulation import compute_member
from services.projections.core.explain import explain
from services.projections.core.serialize import key_body
from tests.unit.builders import MEMBER, NUMBER, PAYER, WEEK1, History

POOL = "HOME-CARE"


def pool_grant(history: History, authorization_id: str = "L1", **extra: Any) -> None:
    data = {
        "authorization_id": authorization_id,
        "authorization_number": NUMBER,
        "member_id": MEMBER,
        "payer_id": PAYER,
        "service_codes": ["T1019", "S5125"],
        "pool": POOL,
        "frequency": "week",
        "units": "10",
        "start_date": WEEK1,
        "end_date": WEEK1 + timedelta(days=27),
        **extra,
    }
    history.add("authorization.granted", **data)


def test_visits_of_every_listed_code_share_the_pool_units():
    history = History()
    history.settings(allow_accumulation=True)
    pool_grant(history)
    history.visit("v1", WEEK1 + timedelta(days=1), 6, code="T1019")
    history.visit("v2", WEEK1 + timedelta(days=2), 3, code="S5125", number=NUMBER)
    history.visit("v3", WEEK1 + timedelta(days=3), 2, code="G0151")  # not in the pool
    projection = history.project()
    result = compute_member(projection.facts)
    assert result.matches == {"v1": (NUMBER, POOL), "v2": (NUMBER, POOL), "v3": None}
    key = projection.key_result((NUMBER, POOL))
    week1 = key.periods[0]
    assert (week1.authorized, week1.used, week1.unauthorized) == (10, 9, 0)
    assert week1.balance == Decimal(1)
    body = key_body(key, None)
    assert (body["service_code"], body["service_codes"]) == (POOL, ["S5125", "T1019"])
    assert projection.result == result  # the incremental path agrees


def test_explain_names_the_pool_grant_and_its_visits():
    history = History()
    pool_grant(history)
    history.visit("v1", WEEK1 + timedelta(days=1), 6, code="S5125")
    _, explained = explain(MEMBER, history.events, (NUMBER, POOL), WEEK1 + timedelta(days=3))
    assert [e.description.split(" ")[0] for e in explained] == ["grants", "confirms"]
    assert "shared by T1019, S5125" in explained[0].description
    assert (explained[1].raw_balance_before, explained[1].raw_balance_after) == (10, 4)


def _problems(history: History, event_type: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    problems = ProblemList()
    check_event(history.project().facts, 0, event_type, data, problems)
    return [(p.field, p.problem) for p in problems.problems]


def _grant_data(**data: Any) -> dict[str, Any]:
    return {
        "authorization_id": "L9",
        "authorization_number": NUMBER,
        "member_id": MEMBER,
        "payer_id": PAYER,
        "frequency": "week",
        "units": "4",
        "start_date": "2026-10-04",
        "end_date": "2026-10-31",
        **data,
    }


def test_a_code_in_two_keys_of_one_number_is_refused():
    history = History()
    pool_grant(history)
    [(field, problem)] = _problems(
        history, "authorization.granted", _grant_data(service_code="T1019")
    )
    assert field == "data.service_code"
    assert f"T1019 already belongs to {NUMBER} / {POOL}" in problem
    [(field, problem)] = _problems(
        history,
        "authorization.granted",
        _grant_data(pool="OTHER", service_codes=["S5125", "G0151"]),
    )
    assert field == "data.service_codes" and problem.startswith("S5125 already belongs")
    # another number may list the code again; the same pool again with the same codes is a line
    assert (
        _problems(
            history,
            "authorization.granted",
            _grant_data(authorization_number="B-1", service_code="T1019"),
        )
        == []
    )
    same = _grant_data(pool=POOL, service_codes=["S5125", "T1019"])
    assert _problems(history, "authorization.granted", same) == []


def test_removing_a_code_inside_a_pool_is_refused_and_the_pool_can_be_removed():
    history = History()
    pool_grant(history)
    data = {"member_id": MEMBER, "authorization_number": NUMBER, "service_code": "T1019"}
    [(field, problem)] = _problems(history, "authorization.service_removed", data)
    assert field == "data.service_code" and f"pool {POOL}" in problem
    assert _problems(history, "authorization.service_removed", {**data, "service_code": POOL}) == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"service_code": "T1019", "pool": POOL, "service_codes": ["T1019"]}, "service_code"),
        ({}, "service_code"),
        ({"service_codes": ["T1019"]}, "pool"),
        ({"pool": POOL}, "service_codes"),
        ({"pool": POOL, "service_codes": ["T1019", "T1019"]}, "service_codes"),
    ],
)
def test_a_code_or_a_pool_but_not_both_nor_neither(data: dict[str, Any], field: str):
    with pytest.raises(ValidationError) as raised:
        AuthorizationGranted.model_validate(_grant_data(**data))
    assert field in {str(error["loc"][0]) for error in raised.value.errors()}
