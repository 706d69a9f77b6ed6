"""kill -9 at random moments (SQLite and PostgreSQL): nothing acknowledged is lost, nothing is
recorded twice, no position or sequence is skipped, and the projections equal a replay.

Serve: writers send a seeded random history (every batch valid, each writer owning some
members) through one `serve` process, which is SIGKILLed several times, each time after a random
share of the batches went out and a random delay (mid-request, mid-commit or between requests).
After each restart on the same database every writer first sends again every batch it has sent
so far: an acknowledged batch must answer `duplicate` with the positions it was acknowledged
with; the batch in flight at the kill answers all `recorded` or all `duplicate` (a batch is
atomic); never a 409. Then the load goes on. At the end every batch is sent once more, and the
ledger, the derived events and a `rebuild` (which must correct nothing) are checked.

Rebuild: `rebuild --from-scratch` is SIGKILLed (with its worker processes) at a random moment
after it emptied the read models; a plain `rebuild` then restores exactly the rows the
incremental path had written.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.ledger.db import Database
from services.ledger.group_commit import Ledger
from services.ledger.validation import validate_batch
from services.projections.inline import InlineProjector
from services.projections.runner import recalculate
from tests.e2e.processes import (
    Batch,
    History,
    Serve,
    assert_gap_free,
    fresh_postgres_database,
    generate_history,
    kill_group,
    make_keys,
    read_models,
    run_cli,
    start_cli,
    tenant_state,
)

SEED = 4711
KILLS = 3
KILL_DELAY_S = 0.05  # after a round's share of batches went out: mid-request, mid-commit, idle
WRITERS_PER_TENANT = 4
Positions = list[tuple[str, int]]  # (event id, position) per event of a batch


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_server_url")) as url:
        yield url


@dataclass
class Writer:
    """One client's share of a tenant's batches, sent in order, and what came back."""

    key: str
    batches: list[Batch]
    sent: int = 0  # batches sent so far, answered or not
    acknowledged: dict[str, Positions] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.sent == len(self.batches)

    async def post(self, client: httpx.AsyncClient, batch: Batch, first: bool = False) -> Positions:
        answer = await client.post(
            "/v1/events",
            json={"events": batch.events},
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert answer.status_code == 200, f"{batch.name}: {answer.status_code} {answer.text}"
        results = answer.json()["results"]
        assert [r["id"] for r in results] == [e["id"] for e in batch.events]
        statuses = {r["status"] for r in results}
        assert statuses in ({"recorded"}, {"duplicate"}), f"{batch.name}: half recorded {results}"
        positions = [(r["id"], int(r["position"])) for r in results]
        known = self.acknowledged.get(batch.name)
        if first:
            assert statuses == {"recorded"}, f"{batch.name}: never sent, yet {results}"
        if known is not None:
            assert statuses == {"duplicate"}, f"{batch.name}: acknowledged, recorded again"
            assert positions == known, f"{batch.name}: acknowledged at {known}, now {positions}"
        self.acknowledged[batch.name] = positions
        return positions

    async def resend(self, client: httpx.AsyncClient) -> None:
        """Every batch sent so far, acknowledged or not, in order."""
        for batch in self.batches[: self.sent]:
            await self.post(client, batch)

    async def load(self, client: httpx.AsyncClient) -> None:
        """The next batches until the server goes away (the one in flight stays unanswered)."""
        while not self.done:
            batch = self.batches[self.sent]
            self.sent += 1
            try:
                await self.post(client, batch, first=True)
            except httpx.TransportError:
                return


def writers_of(history: History, keys: dict[str, str]) -> list[Writer]:
    """Per tenant, members spread over the writers; the settings changes go with the first."""
    writers: list[Writer] = []
    for tenant in history.tenants:
        members = history.members[tenant]
        shares: list[list[Batch]] = [[] for _ in range(WRITERS_PER_TENANT)]
        for batch in history.batches:
            if batch.tenant == tenant:
                index = 0 if batch.member is None else members.index(batch.member)
                shares[index % WRITERS_PER_TENANT].append(batch)
        writers += [Writer(keys[tenant], share) for share in shares]
    return writers


@dataclass(frozen=True)
class Kill:
    """When a round's kill comes: once `batches` more were sent, `delay` seconds later."""

    batches: int
    delay: float


def plan_kills(rng: random.Random, batches: int) -> list[Kill]:
    share = batches // (KILLS + 1)
    return [
        Kill(rng.randint(share // 3, share), rng.uniform(0, KILL_DELAY_S)) for _ in range(KILLS)
    ]


def sent(writers: list[Writer]) -> int:
    return sum(writer.sent for writer in writers)


async def round_of_load(server: Serve, writers: list[Writer], kill: Kill | None) -> bool:
    """Resend what was sent, then load; kill -9 the server as planned. True when the kill came
    while batches were still to be sent."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        await asyncio.gather(*(writer.resend(client) for writer in writers))
        start = sent(writers)
        loading = asyncio.ensure_future(
            asyncio.gather(*(writer.load(client) for writer in writers))
        )
        if kill is None:
            await loading
            return False
        while sent(writers) - start < kill.batches and not loading.done():
            await asyncio.sleep(0.001)
        await asyncio.sleep(kill.delay)
        mid_load = not all(writer.done for writer in writers)
        server.kill()
        await loading
        return mid_load


def check_key_versions(balance_changes: list[dict[str, Any]], tenant: str) -> None:
    """Each key's balance.changed versions run 1, 2, 3... in sequence order."""
    versions: dict[tuple[str, str, str], list[int]] = {}
    for data in balance_changes:
        key = data["key"]
        name = (key["member_id"], key["authorization_number"], key["service_code"])
        versions.setdefault(name, []).append(data["key_version"])
    for name, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), f"{tenant} {name}: key versions {seen}"


async def test_kill_9_under_load_loses_nothing_acknowledged(database: str, tmp_path: Path) -> None:
    history = generate_history(SEED, tenants=2, members=8, events_per_phase=(6, 14), refusals=False)
    keys = make_keys(database, history.tenants)
    writers = writers_of(history, keys)
    kills = plan_kills(random.Random(), len(history.batches))
    server = Serve(database, tmp_path / "serve.log")
    interrupted = 0
    try:
        for kill in [*kills, None]:
            server.start()
            server.wait_healthy()
            interrupted += await round_of_load(server, writers, kill)
        assert all(writer.done for writer in writers)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            for writer in writers:  # every batch once more: all duplicates, same positions
                await writer.resend(client)
    finally:
        server.stop()
    assert interrupted == KILLS, f"only {interrupted} of the {KILLS} kills came mid-load: {kills}"

    for tenant in history.tenants:
        state = tenant_state(database, tenant)
        assert_gap_free(state, tenant)
        event_ids = [
            event["id"]
            for batch in history.batches
            if batch.tenant == tenant
            for event in batch.events
        ]
        assert sorted(state.event_positions) == sorted(event_ids), f"{tenant}: lost or extra"
        for writer in writers:
            for name, positions in writer.acknowledged.items():
                if name.startswith(f"{tenant}/"):
                    for event_id, position in positions:
                        assert state.event_positions[event_id] == position, (
                            f"{tenant}: {event_id} acknowledged at {position}, stored at "
                            f"{state.event_positions.get(event_id)}"
                        )
        check_key_versions(state.balance_changes, tenant)

    rebuilt = run_cli("rebuild", "--database", database)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert re.search(
        r"[1-9][\d,]* members? replayed; read models were up to date \(0 corrected\)",
        rebuilt.stdout,
    ), rebuilt.stdout


def member_view_count(url: str) -> int:
    connection = Database(url).connect()
    try:
        return int(connection.execute("SELECT COUNT(*) FROM member_views")[0][0])
    finally:
        connection.close()


@dataclass(frozen=True)
class RebuildRun:
    """Seconds from the moment the read models were seen emptied."""

    running_at_kill: bool  # False: waited for
    rows_at_kill: int  # member_views rows after the kill (waited for: all)
    first_s: float  # to the first replayed member's row (killed: to the kill's row count)
    refilled_s: float  # to every member's row back (killed: to the kill)


def rebuild_from_scratch(url: str, log: Path, kill: tuple[int, float] | None) -> RebuildRun:
    """`rebuild --from-scratch`. With `kill` (rows, delay): SIGKILLed with its workers `delay`
    seconds after the read models were emptied and `rows` members' rows were back."""
    full = member_view_count(url)
    process = start_cli("rebuild", "--from-scratch", "--database", url, log=log)
    try:
        while process.poll() is None and member_view_count(url) >= full:
            time.sleep(0.002)
        emptied = time.monotonic()
        if kill is None:
            first = None
            while process.poll() is None and (rows := member_view_count(url)) < full:
                if rows and first is None:
                    first = time.monotonic() - emptied
                time.sleep(0.002)
            refilled = time.monotonic() - emptied
            assert process.wait(timeout=60) == 0, log.read_text()
            return RebuildRun(False, full, refilled if first is None else first, refilled)
        rows, delay = kill
        while process.poll() is None and member_view_count(url) < rows:
            time.sleep(0.002)
        first = time.monotonic() - emptied
        time.sleep(delay)
        running = process.poll() is None
        kill_group(process)
        at = time.monotonic() - emptied
        settle(url)
        return RebuildRun(running, member_view_count(url), first, at)
    finally:
        kill_group(process)


def settle(url: str) -> None:
    """Wait until the killed clients' PostgreSQL sessions are over: a COMMIT that reached the
    server just before the kill still lands."""
    if Database(url).dialect != "postgres":
        return
    connection = Database(url).connect()
    try:
        deadline = time.monotonic() + 10
        while connection.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'"
        )[0][0]:
            assert time.monotonic() < deadline, "the killed rebuild's sessions live on"
            time.sleep(0.01)
    finally:
        connection.close()


def corrected_by_replay(url: str) -> int:
    connection = Database(url).connect()
    try:
        return recalculate(connection)[1]
    finally:
        connection.close()


def test_kill_9_during_rebuild_from_scratch_then_rebuild(database: str, tmp_path: Path) -> None:
    history = generate_history(SEED + 1, tenants=3, members=30, refusals=False)
    Database(database).migrate()
    ledger = Ledger(Database(database), InlineProjector())
    for batch in history.batches:
        candidates = validate_batch({"events": batch.events})
        ledger.append(batch.tenant, candidates, may_override=True, now=datetime.now(UTC))
    before = read_models(database)
    assert corrected_by_replay(database) == 0

    # once to the end, to know how long the replay takes on this machine
    whole = rebuild_from_scratch(database, tmp_path / "rebuild.log", None)
    assert read_models(database) == before
    members = len(before["member_views"])
    if Database(database).dialect == "postgres":  # workers commit chunks one by one: between
        kill = (random.randint(1, members // 2), random.uniform(0, 0.002))
    else:  # one transaction replays every member: during it
        kill = (0, random.uniform(0, 0.4 * whole.refilled_s))
    killed = rebuild_from_scratch(database, tmp_path / "rebuild.log", kill)
    assert killed.running_at_kill, f"the rebuild ended before the kill: {killed}, {whole}"
    assert killed.rows_at_kill < members, f"killed after the replay: {killed}"

    rebuilt = run_cli("rebuild", "--database", database)
    assert rebuilt.returncode == 0, rebuilt.stderr
    corrected = re.search(r"\((\d+) corrected\)", rebuilt.stdout)
    assert corrected, rebuilt.stdout
    missing = members - killed.rows_at_kill
    assert int(corrected[1]) == missing, f"{rebuilt.stdout}: {missing} members had no rows"
    assert read_models(database) == before, "after the rebuild the read models differ"
    assert corrected_by_replay(database) == 0
    for tenant in history.tenants:
        assert_gap_free(tenant_state(database, tenant), tenant)
