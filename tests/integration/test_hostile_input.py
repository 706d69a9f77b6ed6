"""Hostile and broken input (the reliability run's F1-F7, F8), on both stores: each request
answers a 4xx in the contract's error shape, stores nothing, and never fails another tenant's
concurrent valid writes. A property test sends random malformed envelopes: no 5xx, no change."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import Tenant, make_tenant, post_events

VISIT = {
    "visit_id": "v1",
    "member_id": "m1",
    "payer_id": "p1",
    "service_code": "T1019",
    "service_date": "2026-10-06",
    "units": "1",
}
GRANT = {
    "authorization_id": "a1",
    "authorization_number": "N1",
    "member_id": "m1",
    "payer_id": "p1",
    "service_code": "T1019",
    "frequency": "week",
    "units": "10",
    "start_date": "2026-10-04",
    "end_date": "2026-12-31",
}


def _event(
    kind: str = "visit.confirmed", data: dict[str, Any] | None = None, **envelope: Any
) -> dict[str, Any]:
    found: dict[str, Any] = {"id": str(uuid.uuid4()), "type": kind, "data": data or dict(VISIT)}
    found.update(envelope)
    return found


def _grant(**changes: str) -> dict[str, Any]:
    return _event("authorization.granted", dict(GRANT, **changes))


HOSTILE_BATCHES = {
    "F1 type is an object": [_event(type={})],
    "F1 type is a list": [_event(type=[])],
    "F2 id is null": [_event(id=None)],
    "F2 id is a number": [_event(id=7)],
    "F3 a null id beside a valid event": [_event(id=None), _event()],
    "F4 dates in year 1": [_grant(start_date="0001-01-01", end_date="0001-02-01")],
    "F4 dates in year 9999": [_grant(start_date="9999-12-01", end_date="9999-12-31")],
    "F4 a daily line over 60 years": [
        _grant(frequency="day", start_date="2000-01-01", end_date="2060-01-01")
    ],
    "F7 a NUL in an id": [_event(data=dict(VISIT, visit_id="a\x00b"))],
    "F7 a control character in a code": [_event(data=dict(VISIT, service_code="T\x1b1019"))],
    "a 50 kB member id": [_event(data=dict(VISIT, member_id="m" * 50_000))],
}


def _assert_refused(answer: httpx.Response) -> None:
    assert 400 <= answer.status_code < 500, answer.text
    error = answer.json()["error"]
    assert error["code"] and error["message"]
    assert isinstance(error["details"], list)


@pytest.mark.parametrize("name", sorted(HOSTILE_BATCHES))
async def test_a_hostile_batch_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, tenant: Tenant, name: str
) -> None:
    answer = await post_events(client, tenant, HOSTILE_BATCHES[name])

    _assert_refused(answer)
    assert answer.status_code == 422
    assert tenant.ledger_count() == 0


async def test_json_nested_1000_levels_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = "[" * 1000 + "]" * 1000
    headers = {**tenant.auth(), "Content-Type": "application/json"}

    answer = await client.post("/v1/events", content=body, headers=headers)

    _assert_refused(answer)
    assert "nests too deeply" in answer.json()["error"]["message"]
    nested = {"events": [_event(data={"a": "[" * 5})]}
    deep: Any = nested
    for _ in range(40):
        deep = {"x": deep}
    answer = await client.post("/v1/events", json=deep, headers=tenant.auth())
    _assert_refused(answer)
    assert tenant.ledger_count() == 0


@pytest.mark.parametrize(
    "known_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1850-01-01T00:00:00Z"]
)
async def test_f5_a_known_at_past_the_years_the_ledger_holds_is_422_on_every_route(
    client: httpx.AsyncClient, tenant: Tenant, known_at: str
) -> None:
    await post_events(client, tenant, [_grant(), _event()])
    reader = tenant.auth("reader")
    for path in (
        "/v1/members/m1/accumulations",
        "/v1/members/m1/accumulations/N1/T1019",
        "/v1/members/m1/benefits",
        "/v1/visits/v1",
        "/v1/reports/exceeding-accumulation",
        "/v1/members/m1/accumulators",
    ):
        answer = await client.get(path, params={"known_at": known_at}, headers=reader)
        _assert_refused(answer)
        assert answer.status_code == 422, path
        assert answer.json()["error"]["details"][0]["field"] == "known_at"
    answer = await client.get(
        "/v1/members/m1/accumulations", params={"as_of": "0001-01-01"}, headers=reader
    )
    assert answer.status_code == 422


async def test_f7_a_nul_in_a_path_or_query_is_422_on_both_stores(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    reader = tenant.auth("reader")
    for path, params in (
        ("/v1/members/m%00x/accumulations", {}),
        ("/v1/visits/v%001", {}),
        ("/v1/members/m1/accumulations", {"as_of": "2026-10-06\x00"}),
    ):
        answer = await client.get(path, params=params, headers=reader)
        _assert_refused(answer)
        assert answer.status_code == 422, path


async def test_f8_hostile_writers_never_fail_another_tenants_valid_writes(
    client: httpx.AsyncClient, database_url: str
) -> None:
    hostile, valid = make_tenant(database_url), make_tenant(database_url)
    await post_events(client, valid, [_grant()])
    batches = sorted(HOSTILE_BATCHES)

    async def attacker(round_: int) -> list[int]:
        answers = []
        for name in batches:
            answers.append((await post_events(client, hostile, HOSTILE_BATCHES[name])).status_code)
        return answers

    async def writer(number: int) -> list[int]:
        answers = []
        for step in range(6):
            data = dict(VISIT, visit_id=f"w{number}-{step}", service_date="2026-10-07")
            answers.append((await post_events(client, valid, [_event(data=data)])).status_code)
        return answers

    results = await asyncio.gather(*(attacker(n) for n in range(3)), *(writer(n) for n in range(6)))

    assert all(status == 422 for answers in results[:3] for status in answers)
    assert [status for answers in results[3:] for status in answers] == [200] * 36
    assert valid.ledger_count() == 1 + 36
    assert hostile.ledger_count() == 0


_junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_types = st.sampled_from(["visit.confirmed", "authorization.granted", "claim.adjudicated", "nope"])


@st.composite
def malformed_envelopes(draw: st.DrawFn) -> Any:
    event: dict[str, Any] = {
        "id": draw(st.one_of(st.just(str(uuid.uuid4())), _junk)),
        "type": draw(st.one_of(_types, _junk)),
        "data": draw(st.one_of(st.just(dict(VISIT, units=draw(_junk))), _junk)),
    }
    for name in draw(st.lists(st.sampled_from(["id", "type", "data"]), max_size=2)):
        event.pop(name, None)
    if draw(st.booleans()):
        event[draw(st.text(min_size=1, max_size=6))] = draw(_junk)
    shape = draw(st.sampled_from(["batch", "bare", "junk"]))
    if shape == "batch":
        return {"events": [event, *draw(st.lists(_junk, max_size=2))]}
    return event if shape == "bare" else draw(_junk)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=malformed_envelopes())
async def test_random_malformed_envelopes_never_answer_5xx_nor_store(
    client: httpx.AsyncClient, tenant: Tenant, body: Any
) -> None:
    before = tenant.ledger_count()
    answer = await client.post("/v1/events", json=body, headers=tenant.auth())
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        _assert_refused(answer)
        assert tenant.ledger_count() == before
    _SEEN.append(answer.status_code)


_SEEN: list[int] = []


def test_the_property_test_ran() -> None:
    """Run after it (file order): the async property test really sent its examples."""
    assert len(_SEEN) >= 2 * 30
