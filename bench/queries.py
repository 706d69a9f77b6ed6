"""As-of and known_at queries, a retroactive change, and `rebuild`, on ledgers of two sizes."""

from __future__ import annotations

import random
import time
from datetime import date, timedelta

import httpx

from bench.common import BIN, api_key, event, log, median, percentile, run_child, serve
from bench.history import FIRST_SUNDAY, TENANT, WEEKS, History
from services.ledger.codec import format_timestamp


def rebuild(history: History) -> dict[str, float]:
    """`benefit-ledger rebuild --from-scratch` as a child process: its time and its own peak RSS."""
    elapsed, rss_mb = run_child(
        [str(BIN), "rebuild", "--from-scratch", "--database", history.database_url], "rebuild"
    )
    return {
        "rebuild_events_per_s": round(history.events / elapsed),
        "rebuild_peak_rss_mb": rss_mb,
    }


def _detail(member: int) -> str:
    return f"/v1/members/member-{member}/accumulations/AUTH-{member}/T1019"


def _timed(client: httpx.Client, path: str, params: dict[str, str]) -> float:
    started = time.perf_counter()
    answer = client.get(path, params=params)
    elapsed = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
    return elapsed


def _random_day(rng: random.Random) -> str:
    return (FIRST_SUNDAY + timedelta(days=rng.randrange(WEEKS * 7))).isoformat()


def as_of_queries(client: httpx.Client, history: History, samples: int) -> list[float]:
    rng = random.Random(3)
    for member in range(min(5, history.members)):  # warm the connection pools
        _timed(client, _detail(member), {"as_of": _random_day(rng)})
    return [
        _timed(client, _detail(rng.randrange(history.members)), {"as_of": _random_day(rng)})
        for _ in range(samples)
    ]


def known_at_queries(client: httpx.Client, history: History, samples: int) -> list[float]:
    rng = random.Random(4)
    times = []
    for _ in range(samples):
        week = rng.randrange(1, WEEKS)
        known_at = format_timestamp(history.recorded_during(week) + timedelta(hours=1))
        day = (FIRST_SUNDAY + timedelta(weeks=week)).isoformat()
        times.append(
            _timed(
                client,
                _detail(rng.randrange(history.members)),
                {"as_of": day, "known_at": known_at},
            )
        )
    return times


def _on_feed(client: httpx.Client, after: int, cause: str) -> int:
    """Long-poll the feed until the balance.changed caused by `cause` is on it."""
    while True:
        page = client.get("/v1/feeds/events", params={"after": after, "wait": 10}).json()
        for item in page["items"]:
            if item["type"] == "balance.changed" and item["data"]["cause_event_id"] == cause:
                return int(item["sequence"])
        after = int(page["next_after"])


def retroactive_changes(
    client: httpx.Client, history: History, count: int
) -> tuple[list[float], list[float]]:
    """Cut a member's weekly units 10 -> 5 for two years; time until the detail shows it and
    until its balance.changed is on the feed (long poll)."""
    rng = random.Random(5)
    today = date.today().isoformat()
    members = rng.sample(range(history.members), min(count, history.members))
    detail_times, feed_times = [], []
    after = 0
    for member in members:
        before = client.get(_detail(member), params={"as_of": today}).json()["raw_balance"]
        amendment = event(
            "authorization.amended", {"authorization_id": f"line-{member}", "units": "5"}
        )
        started = time.perf_counter()
        answer = client.post("/v1/events", json={"events": [amendment]})
        if answer.status_code != 200:
            raise RuntimeError(f"amendment answered {answer.status_code}: {answer.text[:300]}")
        while client.get(_detail(member), params={"as_of": today}).json()["raw_balance"] == before:
            time.sleep(0.001)
        detail_times.append(time.perf_counter() - started)
        # a second cut, 5 -> 4, timed until its balance.changed is on the feed
        cut = event("authorization.amended", {"authorization_id": f"line-{member}", "units": "4"})
        started = time.perf_counter()
        answer = client.post("/v1/events", json={"events": [cut]})
        if answer.status_code != 200:
            raise RuntimeError(f"amendment answered {answer.status_code}: {answer.text[:300]}")
        after = _on_feed(client, after, str(cut["id"]))
        feed_times.append(time.perf_counter() - started)
    return detail_times, feed_times


def measure(history: History, samples: int, retro: int, label: str) -> dict[str, float]:
    """Queries against `serve` over the history's database (read models already rebuilt)."""
    key = api_key(history.database_url, TENANT)
    figures: dict[str, float] = {}
    with serve(history.database_url) as server:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
            log(f"queries ({label}): {samples} as-of detail queries")
            times = as_of_queries(client, history, samples)
            figures[f"asof_query_p50_ms_{label}"] = round(median(times) * 1000, 2)
            figures[f"asof_query_p99_ms_{label}"] = round(percentile(times, 0.99) * 1000, 2)
            if label == "2m":
                log(f"queries ({label}): {samples} known_at detail queries")
                times = known_at_queries(client, history, samples)
                figures["known_at_query_p50_ms_2m"] = round(median(times) * 1000, 2)
                figures["known_at_query_p99_ms_2m"] = round(percentile(times, 0.99) * 1000, 2)
                log(f"queries ({label}): {retro} retroactive amendments")
                detail, feed = retroactive_changes(client, history, retro)
                figures["retro_change_detail_p50_ms"] = round(median(detail) * 1000, 2)
                figures["retro_change_detail_p99_ms"] = round(percentile(detail, 0.99) * 1000, 2)
                figures["retro_change_p50_ms"] = round(median(feed) * 1000, 2)
                figures["retro_change_p99_ms"] = round(percentile(feed, 0.99) * 1000, 2)
    return figures
