"""Derived events and the feed (api.md Subscriptions, accumulation.md 2.7 and 2.9), on SQLite and
PostgreSQL: balance.changed from recorded events and from the period tick, the long poll, SSE
resumption, gap-free sequences under concurrent writers, no re-emission on rebuild, roles."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from services.ledger.demo import reduction, weekly_example
from services.ledger.leases import Lease
from services.projections.runner import recalculate, truncate_read_models
from services.projections.tick import tick
from tests.integration.conftest import Tenant, make_tenant, post_events


def _first_sunday(weeks_ago: int) -> date:
    today = datetime.now(UTC).date()
    return today - timedelta(days=(today.weekday() + 1) % 7 + 7 * weeks_ago)


def _renamed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The demo's events with fresh ids (the demo's ids are fixed per name)."""
    return [dict(event, id=str(uuid.uuid4())) for event in events]


async def _feed(client: httpx.AsyncClient, tenant: Tenant, after: int = 0, **params: Any) -> Any:
    answer = await client.get(
        "/v1/feeds/events",
        params={"after": after, "limit": 1000, **params},
        headers=tenant.auth("subscriber"),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_retroactive_reduction_emits_one_balance_change_7_to_0(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    answer = await post_events(client, tenant, _renamed(weekly_example(_first_sunday(6))))
    assert answer.status_code == 200, answer.text
    before = await _feed(client, tenant)
    changes = [i for i in before["items"] if i["type"] == "balance.changed"]
    assert changes, "the grant and the visits change the balance"
    assert [i["sequence"] for i in before["items"]] == list(range(1, len(before["items"]) + 1))
    assert changes[-1]["data"]["current"] == {"raw_balance": "7", "accumulated_units": "7"}

    cut = dict(reduction(), id=str(uuid.uuid4()))
    assert (await post_events(client, tenant, [cut])).status_code == 200
    page = await _feed(client, tenant, before["next_after"])
    balance = [i for i in page["items"] if i["type"] == "balance.changed"]
    assert len(balance) == 1
    data = balance[0]["data"]
    assert data["key"] == {
        "member_id": "member-1",
        "authorization_number": "AUTH-100",
        "service_code": "T1019",
    }
    assert data["previous"]["accumulated_units"] == "7"
    assert data["current"] == {"raw_balance": "-13", "accumulated_units": "0"}
    assert data["cause_event_id"] == cut["id"]
    assert data["key_version"] == changes[-1]["data"]["key_version"] + 1
    assert data["first_affected_period"] == _first_sunday(6).isoformat()
    assert data["negative_accrual"]["cause"] == "authorization_reduction"
    flagged = [i for i in page["items"] if i["type"] == "accumulation.negative_accrual_flagged"]
    assert [f["data"]["cause"] for f in flagged] == ["authorization_reduction"]
    assert flagged[0]["sequence"] == balance[0]["sequence"] + 1


async def test_an_event_that_changes_no_balance_emits_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await post_events(client, tenant, _renamed(weekly_example(_first_sunday(6))))
    before = await _feed(client, tenant)
    scheduled_elsewhere = {
        "id": str(uuid.uuid4()),
        "type": "visit.scheduled",
        "data": {
            "visit_id": "unmatched",
            "member_id": "member-1",
            "payer_id": "payer-1",
            "service_code": "S5125",  # no line covers it: unauthorized, in no balance
            "service_date": _first_sunday(6).isoformat(),
            "units": "3",
        },
    }
    assert (await post_events(client, tenant, [scheduled_elsewhere])).status_code == 200
    assert (await _feed(client, tenant, before["next_after"]))["items"] == []


async def test_the_long_poll_answers_as_soon_as_an_event_exists(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    waiting = asyncio.create_task(_feed(client, tenant, 0, wait=30))
    await asyncio.sleep(0.2)
    assert not waiting.done(), "an empty feed waits"
    await post_events(client, tenant, _renamed(weekly_example(_first_sunday(6)))[:2])
    page = await asyncio.wait_for(waiting, 15)  # well before the 30 s wait is over
    assert page["items"] and page["items"][0]["sequence"] == 1
    empty = await _feed(client, tenant, page["next_after"] + 100, wait=0)
    assert empty == {"items": [], "next_after": page["next_after"] + 100}


async def test_sequences_are_gap_free_under_concurrent_writers(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    async def member(number: int) -> None:
        events = _renamed(weekly_example(_first_sunday(6), member_id=f"m-{number}"))
        for event in events:
            if "authorization_id" in event["data"]:
                event["data"] = dict(event["data"], authorization_id=f"line-{number}")
            if "visit_id" in event["data"]:
                event["data"] = dict(
                    event["data"], visit_id=f"{number}-{event['data']['visit_id']}"
                )
        await post_events(client, tenant, events[:1])
        for event in events[1:]:
            answer = await post_events(client, tenant, [event])
            assert answer.status_code == 200, answer.text

    await asyncio.gather(*(member(n) for n in range(6)))
    items = (await _feed(client, tenant))["items"]
    assert len(items) >= 6 * 5
    assert [i["sequence"] for i in items] == list(range(1, len(items) + 1))
    versions: dict[str, list[int]] = {}
    for item in items:
        if item["type"] == "balance.changed":
            versions.setdefault(item["data"]["key"]["member_id"], []).append(
                item["data"]["key_version"]
            )
    for found in versions.values():
        assert found == list(range(1, len(found) + 1))


def _sse(text: str) -> list[dict[str, str]]:
    frames = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if "id" in fields:
            frames.append(fields)
    return frames


async def test_sse_resumes_from_last_event_id_without_loss(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await post_events(client, tenant, _renamed(weekly_example(_first_sunday(6))))
    everything = (await _feed(client, tenant))["items"]
    headers = tenant.auth("subscriber")
    first = await client.get("/v1/feeds/events/stream", params={"limit": 2}, headers=headers)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/event-stream")
    seen = _sse(first.text)
    assert [int(f["id"]) for f in seen] == [1, 2]
    rest = await client.get(
        "/v1/feeds/events/stream",
        params={"limit": len(everything) - 2},
        headers={**headers, "Last-Event-ID": seen[-1]["id"]},
    )
    resumed = _sse(rest.text)
    assert [int(f["id"]) for f in seen + resumed] == [i["sequence"] for i in everything]
    assert [f["event"] for f in resumed] == [i["type"] for i in everything[2:]]
    assert json.loads(resumed[0]["data"])["sequence"] == 3


async def test_rebuild_and_recalculation_emit_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await post_events(client, tenant, _renamed(weekly_example(_first_sunday(6))))
    count = len((await _feed(client, tenant))["items"])
    connection = tenant.database.connect()
    try:
        with connection.transaction(write=True):
            truncate_read_models(connection, tenant.name)
        recalculate(connection, tenant.name)
    finally:
        connection.close()
    assert len((await _feed(client, tenant))["items"]) == count


async def test_tick_emits_once_per_key_and_period(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    first_sunday = _first_sunday(1)
    await post_events(client, tenant, _renamed(weekly_example(first_sunday))[:2])
    before = await _feed(client, tenant)
    second_week = first_sunday + timedelta(days=7)
    tick(tenant.database, second_week)
    tick(tenant.database, second_week + timedelta(days=1))  # same period: nothing new
    page = await _feed(client, tenant, before["next_after"])
    ours = [i for i in page["items"] if i["data"].get("reason") == "period_started"]
    assert len(ours) == 1
    data = ours[0]["data"]
    assert data["first_affected_period"] == second_week.isoformat()
    assert data["previous"]["raw_balance"] == "10"
    assert data["current"]["raw_balance"] == "20"
    assert data["cause_event_id"] is None
    tick(tenant.database, second_week + timedelta(days=7))
    third = await _feed(client, tenant, page["next_after"])
    balances = [i for i in third["items"] if i["type"] == "balance.changed"]
    assert [i["data"]["first_affected_period"] for i in balances] == [
        (second_week + timedelta(days=7)).isoformat()
    ]
    # the line ends 13 days after that tick: its renewal is due (alerts, test_benefit_alerts.py)
    assert [i["type"] for i in third["items"]] == ["balance.changed", "authorization.renewal_due"]


async def test_a_tick_leaves_a_tenant_another_process_is_ticking_to_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first_sunday = _first_sunday(1)
    await post_events(client, tenant, _renamed(weekly_example(first_sunday))[:2])
    second_week = first_sunday + timedelta(days=7)
    other = Lease(tenant.name, "tick", holder="another process")
    connection = tenant.database.connect()
    try:
        other.acquire(connection)
        tick(tenant.database, second_week)
        assert _rollovers(await _feed(client, tenant)) == []
        other.release(connection)
    finally:
        connection.close()
    tick(tenant.database, second_week)
    assert _rollovers(await _feed(client, tenant)) == [second_week.isoformat()]


def _rollovers(page: dict[str, Any]) -> list[str]:
    return [
        item["data"]["first_affected_period"]
        for item in page["items"]
        if item["data"].get("reason") == "period_started"
    ]


async def test_feeds_need_the_subscriber_role_and_stay_in_the_tenant(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    await post_events(client, tenant, _renamed(weekly_example(_first_sunday(6))))
    other = make_tenant(database_url)
    assert (await _feed(client, other))["items"] == []
    for path in ("/v1/feeds/events", "/v1/feeds/events/stream"):
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers=tenant.auth("reader"))).status_code == 403
    bad = await client.get(
        "/v1/feeds/events", params={"limit": 0}, headers=tenant.auth("subscriber")
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "limit"


async def test_a_stream_token_opens_the_stream_for_a_browser_and_ends_with_its_key(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await post_events(client, tenant, _renamed(weekly_example(_first_sunday(6))))
    issued = await client.post(
        "/v1/feeds/stream-tokens", json={"expires_in": 60}, headers=tenant.auth("subscriber")
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    expires_at = datetime.fromisoformat(issued.json()["expires_at"])
    assert 50 <= (expires_at - datetime.now(UTC)).total_seconds() <= 61

    opened = await client.get("/v1/feeds/events/stream", params={"token": token, "limit": 2})

    assert opened.status_code == 200
    assert [int(f["id"]) for f in _sse(opened.text)] == [1, 2]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, "st1.nope.1.x", "garbage"):
        refused = await client.get("/v1/feeds/events/stream", params={"token": bad, "limit": 1})
        assert refused.status_code == 401, bad
    # the token opens the stream only: elsewhere it is an unknown parameter, and no key
    elsewhere = await client.get("/v1/feeds/events", params={"token": token})
    assert elsewhere.status_code == 422
    assert (await client.get("/v1/feeds/events")).status_code == 401
    # a reader key cannot ask for one; revoking the subscriber's key ends its tokens
    refused = await client.post("/v1/feeds/stream-tokens", headers=tenant.auth("reader"))
    assert refused.status_code == 403
    keys = (await client.get("/v1/api-keys", headers=tenant.auth("admin"))).json()["items"]
    key_id = token.split(".")[1]
    assert key_id in [k["key_id"] for k in keys]
    await client.delete(f"/v1/api-keys/{key_id}", headers=tenant.auth("admin"))
    gone = await client.get("/v1/feeds/events/stream", params={"token": token, "limit": 1})
    assert gone.status_code == 401
