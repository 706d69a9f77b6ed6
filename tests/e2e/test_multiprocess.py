"""Several processes, one truth (PostgreSQL).

One seeded random history of three tenants (payer settings, grants, amendments, voids, service
removals, visits in every state, coverage; now and then a batch the rules refuse) is recorded
twice, each time into a fresh database:

A. by one writer through one `serve` process, batch after batch;
B. by three writers per tenant through three `serve` processes at once, each writer owning some
   members and sending their batches in order, all tenants side by side.

Within a tenant, B interleaves members differently from A, so positions differ; everything the
rules and projections compute per member must not. A settings change applies to every member from
where it is recorded, so both runs let it go only once every writer of its tenant finished the
phase before it. Compared per tenant: the ledger's events as a set (id, type, member, payer,
data, tags), which batches were refused, positions 1..N with no gap, the read models (positions
left out), the derived events (as a multiset, positions left out) with gap-free sequences, the
last `balance.changed` of each key against the detail query, and a recalculation that corrects
nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.ledger.db import Database
from services.projections.core.serialize import key_from_body
from services.projections.core.views import key_view
from services.projections.runner import recalculate
from tests.e2e.processes import (
    Batch,
    History,
    Serve,
    TenantState,
    assert_gap_free,
    fresh_postgres_database,
    generate_history,
    make_keys,
    serving,
    tenant_state,
)

SEED = 20261129
SERVERS = 3
WRITERS_PER_TENANT = 3
Outcome = tuple[int, tuple[str, ...]]  # HTTP status, each event's status (200 only)


@pytest.fixture
def databases(postgres_server_url: str) -> Iterator[tuple[str, str]]:
    with (
        fresh_postgres_database(postgres_server_url) as first,
        fresh_postgres_database(postgres_server_url) as second,
    ):
        yield first, second


async def send(client: httpx.AsyncClient, key: str, batch: Batch) -> Outcome:
    answer = await client.post(
        "/v1/events",
        json={"events": batch.events},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code in (200, 422), f"{batch.name}: {answer.status_code} {answer.text}"
    if answer.status_code == 422:
        assert answer.json()["error"]["code"] == "invalid_event", answer.text
        return 422, ()
    return 200, tuple(result["status"] for result in answer.json()["results"])


def clients(servers: list[Serve]) -> list[httpx.AsyncClient]:
    return [httpx.AsyncClient(base_url=server.base_url, timeout=60) for server in servers]


async def record_sequentially(
    history: History, server: Serve, keys: dict[str, str]
) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        for batch in history.batches:
            outcomes[batch.name] = await send(client, keys[batch.tenant], batch)
    return outcomes


async def record_concurrently(
    history: History, servers: list[Serve], keys: dict[str, str]
) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    open_clients = clients(servers)

    async def write(client: httpx.AsyncClient, batches: list[Batch]) -> None:
        for batch in batches:
            outcomes[batch.name] = await send(client, keys[batch.tenant], batch)

    async def record_tenant(index: int, tenant: str) -> None:
        members = history.members[tenant]
        for phase in sorted({batch.phase for batch in history.batches}):
            of_phase = [b for b in history.batches if b.tenant == tenant and b.phase == phase]
            # the settings change: alone, once the phase before it is complete everywhere
            await write(open_clients[phase % SERVERS], [b for b in of_phase if b.member is None])
            streams: list[list[Batch]] = [[] for _ in range(WRITERS_PER_TENANT)]
            for batch in of_phase:
                if batch.member is not None:
                    streams[members.index(batch.member) % WRITERS_PER_TENANT].append(batch)
            await asyncio.gather(
                *(
                    write(open_clients[(writer + index) % SERVERS], stream)
                    for writer, stream in enumerate(streams)
                )
            )

    try:
        await asyncio.gather(
            *(record_tenant(index, tenant) for index, tenant in enumerate(history.tenants))
        )
    finally:
        for client in open_clients:
            await client.aclose()
    return outcomes


async def check_feed(server: Serve, key: str, tenant: str, state: TenantState) -> None:
    """The feed over HTTP: sequences 1..N, and each key's last balance.changed is the balance
    the detail query answers as of the same day."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60) as client:
        items: list[dict[str, Any]] = []
        while True:
            after = items[-1]["sequence"] if items else 0
            page = await client.get("/v1/feeds/events", params={"after": after, "limit": 1000})
            assert page.status_code == 200, page.text
            if not page.json()["items"]:
                break
            items += page.json()["items"]
        sequences = [item["sequence"] for item in items]
        assert sequences == list(range(1, len(items) + 1)), f"{tenant}: feed sequences have gaps"
        assert sequences == state.sequences
        last: dict[tuple[str, str, str], dict[str, Any]] = {}
        changes: dict[tuple[str, str, str], int] = {}
        for item in items:
            if item["type"] == "balance.changed":
                key_of = item["data"]["key"]
                name = (
                    key_of["member_id"],
                    key_of["authorization_number"],
                    key_of["service_code"],
                )
                last[name] = item["data"]
                changes[name] = changes.get(name, 0) + 1
        assert last, f"{tenant}: no balance.changed at all"
        for name in sorted(state.accumulations):
            data = last.get(name)
            as_of = date.fromisoformat(data["as_of"]) if data else date.today()
            answered = await balance_answered(client, state, name, as_of)
            if data is None:
                assert answered["raw_balance"] == 0, f"{tenant} {name}: no balance.changed"
                continue
            assert data["key_version"] == changes[name], f"{tenant} {name}: key versions"
            for field, value in answered.items():
                assert value == Decimal(data["current"][field]), (
                    f"{tenant} {name}: {field} {value} in the read model, "
                    f"{data['current'][field]} in the last balance.changed"
                )


async def balance_answered(
    client: httpx.AsyncClient, state: TenantState, name: tuple[str, str, str], as_of: date
) -> dict[str, Decimal]:
    """A key's balance as of a day: from the detail query when its payer allows accumulation
    (the API shows no other), else from its stored read-model row."""
    member, number, code = name
    if not state.accumulations[name][0]:
        result, flag = key_from_body(json.loads(state.bodies[name]))
        view = key_view(result, flag, as_of)
        return {"raw_balance": view.raw_balance, "accumulated_units": view.accumulated_units}
    answer = await client.get(
        f"/v1/members/{member}/accumulations/{number}/{code}", params={"as_of": str(as_of)}
    )
    assert answer.status_code == 200, answer.text
    detail = answer.json()
    return {field: Decimal(detail[field]) for field in ("raw_balance", "accumulated_units")}


def assert_same_truth(history: History, first: str, second: str) -> None:
    for tenant in history.tenants:
        one, other = tenant_state(first, tenant), tenant_state(second, tenant)
        assert_gap_free(one, tenant)
        assert_gap_free(other, tenant)
        assert one.events == other.events, f"{tenant}: the ledgers hold different events"
        assert one.accumulations == other.accumulations, f"{tenant}: accumulation views differ"
        assert one.visits == other.visits, f"{tenant}: visit views differ"
        assert one.flags == other.flags, f"{tenant}: negative-accrual flags differ"
        assert one.derived == other.derived, f"{tenant}: derived events differ"


def assert_rebuild_corrects_nothing(url: str) -> None:
    connection = Database(url).connect()
    try:
        checked, corrected = recalculate(connection)
    finally:
        connection.close()
    assert checked > 0
    assert corrected == 0, f"a replay corrected {corrected} of {checked} members"


async def test_three_servers_with_concurrent_writers_agree_with_one_sequential(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    history = generate_history(SEED, members=6, events_per_phase=(5, 12))
    sequential_url, concurrent_url = databases
    keys = make_keys(sequential_url, history.tenants)
    keys_b = make_keys(concurrent_url, history.tenants)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        serving(sequential_url, tmp_path / "a") as (single,),
        serving(concurrent_url, tmp_path / "b", SERVERS) as several,
    ):
        sequential = await record_sequentially(history, single, keys)
        concurrent = await record_concurrently(history, several, keys_b)

        assert concurrent == sequential, "the concurrent run answered other batches than A"
        refused = [name for name, (status, _) in sequential.items() if status == 422]
        statuses = {s for status, events in sequential.values() for s in events}
        assert statuses == {"recorded"}
        assert 0 < len(refused) < len(history.batches) // 4, refused

        for tenant in history.tenants:
            await check_feed(single, keys[tenant], tenant, tenant_state(sequential_url, tenant))
            await check_feed(
                several[1], keys_b[tenant], tenant, tenant_state(concurrent_url, tenant)
            )

    assert_same_truth(history, sequential_url, concurrent_url)
    assert any(  # else B ran as sequentially as A, and the comparison proves little
        tenant_state(sequential_url, t).event_positions
        != tenant_state(concurrent_url, t).event_positions
        for t in history.tenants
    ), "the concurrent writers never interleaved members differently"
    recorded = sum(
        len(batch.events) for batch in history.batches if sequential[batch.name][0] == 200
    )
    assert sum(len(tenant_state(concurrent_url, t).positions) for t in history.tenants) == recorded
    assert_rebuild_corrects_nothing(sequential_url)
    assert_rebuild_corrects_nothing(concurrent_url)
