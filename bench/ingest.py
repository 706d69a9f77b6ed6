"""Ingest through HTTP against `serve` on PostgreSQL: 500-event batches, and single events.

The load generator is this process; the service is another. Projection lag is the time from a
batch's answer until the balance query reflects it (its `position` reaches the batch's last).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import httpx

from bench.common import api_key, event, log, median, percentile, serve
from bench.loadgen import closed_loop

TENANT = "bench-ingest"
FIRST_SUNDAY = date(2025, 11, 30)
SPAN_DAYS = 364
BATCH = 500


def _grant(member: int) -> dict[str, object]:
    return event(
        "authorization.granted",
        {
            "authorization_id": f"line-{member}",
            "authorization_number": f"AUTH-{member}",
            "member_id": f"member-{member}",
            "payer_id": "payer-1",
            "service_code": "T1019",
            "frequency": "week",
            "units": "20",
            "start_date": FIRST_SUNDAY.isoformat(),
            "end_date": (FIRST_SUNDAY + timedelta(days=SPAN_DAYS - 1)).isoformat(),
        },
    )


class Visits:
    """New visits for random members (`first` .. `first + members - 1`); thread-safe ids."""

    def __init__(self, members: int, seed: int, prefix: str, first: int = 0) -> None:
        self.members = members
        self.first = first
        self.prefix = prefix
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.next_id = 0

    def scheduled(self) -> tuple[int, dict[str, object]]:
        with self.lock:
            self.next_id += 1
            number = self.next_id
            member = self.first + self.random.randrange(self.members)
            day = FIRST_SUNDAY + timedelta(days=self.random.randrange(SPAN_DAYS))
        return member, event(
            "visit.scheduled",
            {
                "visit_id": f"{self.prefix}-{number}",
                "member_id": f"member-{member}",
                "payer_id": "payer-1",
                "service_code": "T1019",
                "service_date": day.isoformat(),
                "units": "2",
            },
        )

    def batch(self, size: int = BATCH) -> tuple[int, list[dict[str, object]]]:
        """`size` events, visits scheduled and confirmed, and the last visit's member."""
        events: list[dict[str, object]] = []
        member = 0
        while len(events) < size:
            member, scheduled = self.scheduled()
            data = scheduled["data"]
            assert isinstance(data, dict)
            events += [scheduled, event("visit.confirmed", {"visit_id": data["visit_id"]})]
        return member, events


def _post(client: httpx.Client, events: list[dict[str, object]]) -> int:
    answer = client.post("/v1/events", json={"events": events})
    if answer.status_code != 200:
        raise RuntimeError(f"POST /v1/events answered {answer.status_code}: {answer.text[:500]}")
    return max(int(result["position"]) for result in answer.json()["results"])


def seed(client: httpx.Client, members: Sequence[int]) -> None:
    """The payer's settings and a weekly authorization for each member, in the client's tenant."""
    _post(
        client,
        [event("payer.settings_changed", {"payer_id": "payer-1", "allow_accumulation": True})],
    )
    for start in range(0, len(members), BATCH):
        _post(client, [_grant(m) for m in members[start : start + BATCH]])


def _lag(client: httpx.Client, member: int, position: int) -> float:
    """Seconds from now until the member's balance query reflects `position`."""
    started = time.perf_counter()
    while True:
        answer = client.get(f"/v1/members/member-{member}/accumulations/AUTH-{member}/T1019")
        if answer.status_code == 200 and int(answer.json()["position"]) >= position:
            return time.perf_counter() - started
        time.sleep(0.001)


@dataclass
class Poster:
    """One poster: posts its batches (member, events) to `post_url` with the tenant's key, and
    after each answer follows the batch on `read_url` (the same process or another)."""

    post_url: str
    read_url: str
    key: str
    work: list[tuple[int, list[dict[str, object]]]]


def post_and_follow(posters: list[Poster]) -> tuple[list[float], float]:
    """Every poster in its own thread; each batch's projection lag in seconds, and the time all
    took."""
    lags: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(poster: Poster) -> None:
        headers = {"Authorization": f"Bearer {poster.key}"}
        try:
            with (
                httpx.Client(base_url=poster.post_url, headers=headers, timeout=120) as writer,
                httpx.Client(base_url=poster.read_url, headers=headers, timeout=120) as reader,
            ):
                for member, events in poster.work:
                    position = _post(writer, events)
                    lag = _lag(reader, member, position)
                    with lock:
                        lags.append(lag)
        except BaseException as error:  # reported after the threads join
            errors.append(error)

    threads = [threading.Thread(target=run, args=(poster,)) for poster in posters]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return lags, elapsed


def batched(base_url: str, key: str, members: int, batches: int) -> dict[str, float]:
    visits = Visits(members, seed=1, prefix="batched")
    work = [visits.batch() for _ in range(batches)]
    lags, elapsed = post_and_follow([Poster(base_url, base_url, key, work[i::2]) for i in range(2)])
    return {
        "ingest_batched_events_per_s": round(batches * BATCH / elapsed),
        "projection_lag_p50_ms": round(median(lags) * 1000, 2),
        "projection_lag_p99_ms": round(percentile(lags, 0.99) * 1000, 2),
    }


async def _single(base_url: str, key: str, members: int, seconds: float) -> dict[str, float]:
    visits = Visits(members, seed=2, prefix="single")
    latencies, elapsed = await closed_loop(
        base_url,
        {"Authorization": f"Bearer {key}"},
        lambda: {"events": [visits.scheduled()[1]]},
        clients=16,
        seconds=seconds,
    )
    return {
        "ingest_single_requests_per_s": round(len(latencies) / elapsed),
        "ingest_single_p50_ms": round(median(latencies) * 1000, 2),
        "ingest_single_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def run(database_url: str, scale: float) -> dict[str, float]:
    members = max(20, int(5000 * scale))
    batches = max(20, int(200 * scale))
    seconds = max(2.0, 15.0 * scale)
    key = api_key(database_url, TENANT)
    with serve(database_url) as server:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as client:
            log(f"ingest: seeding {members:,} members with a weekly authorization")
            seed(client, range(members))
        log(f"ingest: {batches} batches of {BATCH} visit events, 2 posters")
        figures = batched(server.base_url, key, members, batches)
        log(f"ingest: single events from 16 clients for {seconds:.0f} s")
        figures |= asyncio.run(_single(server.base_url, key, members, seconds))
    return figures
