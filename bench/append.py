"""The cost of one more event for a member, by the member's history, and what SQLite's
`synchronous = FULL` costs against NORMAL.

In this process, through the service's own write path (`Ledger.append`: rules, group commit,
inline projection, one transaction per append), without HTTP. Three members get a history of
10, 1,000 and 5,000 events (a two-year weekly authorization, then visits scheduled and
confirmed across it), recorded through the same path; then single visits are appended for them
in turn, one member after the other, so that whatever else the machine does falls on the three
alike. Each appended visit falls on a random day of the authorization, so it moves the balance
of the weeks after it (a retroactive visit, the costly case).

- warm: the writer has the member in its cache, as one `serve` process has its busy members;
- after another process (PostgreSQL): another writer recorded a visit for the same member in
  between; this writer steps it onto its cached member (`MemberCache`), as two `serve`
  processes sharing a tenant do;
- uncached (PostgreSQL): another writer changed a payer setting in between, so the member is
  read back from the ledger in full, as after a restart or an eviction: this one grows with the
  member's history.

SQLite runs the warm figures with FULL (the service's setting); then two members of 10 events,
one in a database with FULL and one with NORMAL, take single appends in turn.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from bench.common import log, median, percentile
from services.ledger.db import Database
from services.ledger.group_commit import Ledger
from services.ledger.validation import validate_batch
from services.projections.inline import InlineProjector

TENANT = "bench-append"
HISTORIES = (10, 1000, 5000)  # events a member has before the timed appends
FIRST_SUNDAY = date(2025, 11, 30)
SPAN_DAYS = 728  # two years of weekly periods
BUILD_BATCH = 500


def _event(event_type: str, data: dict[str, object]) -> dict[str, object]:
    return {"id": str(uuid.uuid4()), "type": event_type, "data": data}


def _member(events: int) -> str:
    return f"member-{events}"


def _grant(member: str) -> dict[str, object]:
    return _event(
        "authorization.granted",
        {
            "authorization_id": f"line-{member}",
            "authorization_number": f"AUTH-{member}",
            "member_id": member,
            "payer_id": "payer-1",
            "service_code": "T1019",
            "frequency": "week",
            # enough for the densest history: no week is overdrawn (an overdrawn week's draws
            # depend on what was carried into it, and are computed again when that moves)
            "units": "200",
            "start_date": FIRST_SUNDAY.isoformat(),
            "end_date": (FIRST_SUNDAY + timedelta(days=SPAN_DAYS - 1)).isoformat(),
        },
    )


def _visit(member: str, day: date, units: str = "2") -> dict[str, object]:
    return _event(
        "visit.scheduled",
        {
            "visit_id": f"visit-{uuid.uuid4().hex}",
            "member_id": member,
            "payer_id": "payer-1",
            "service_code": "T1019",
            "service_date": day.isoformat(),
            "units": units,
        },
    )


def _history(member: str, events: int) -> list[dict[str, object]]:
    """The grant, then visits scheduled and confirmed, spread evenly over the two years."""
    history = [_grant(member)]
    visits = events // 2
    for number in range(visits):
        scheduled = _visit(member, FIRST_SUNDAY + timedelta(days=number * SPAN_DAYS // visits))
        history.append(scheduled)
        if len(history) < events:
            data = scheduled["data"]
            assert isinstance(data, dict)
            history.append(_event("visit.confirmed", {"visit_id": data["visit_id"]}))
    assert len(history) == events
    return history


def _append(ledger: Ledger, events: list[dict[str, object]]) -> None:
    candidates = validate_batch({"events": events})
    ledger.append(TENANT, candidates, may_override=False, now=datetime.now(UTC))


def _settings() -> dict[str, object]:
    return _event("payer.settings_changed", {"payer_id": "payer-1", "allow_accumulation": True})


def _build(ledger: Ledger, sizes: tuple[int, ...]) -> None:
    _append(ledger, [_settings()])
    for events in sizes:
        history = _history(_member(events), events)
        for start in range(0, len(history), BUILD_BATCH):
            _append(ledger, history[start : start + BUILD_BATCH])


def _timed(append: Callable[[], None]) -> float:
    started = time.perf_counter()
    append()
    return (time.perf_counter() - started) * 1000


def _random_day(rng: random.Random) -> date:
    return FIRST_SUNDAY + timedelta(days=rng.randrange(SPAN_DAYS))


def _warm(ledger: Ledger, samples: int, seed: int) -> dict[int, list[float]]:
    """Single appends for each member in turn, the writer's cache holding them."""
    rng = random.Random(seed)
    times: dict[int, list[float]] = {events: [] for events in HISTORIES}
    for _ in range(samples):
        for events in HISTORIES:
            visit = _visit(_member(events), _random_day(rng))
            times[events].append(_timed(functools.partial(_append, ledger, [visit])))
    return times


def _other_process(
    ledger: Ledger, other: Ledger, samples: int, seed: int
) -> dict[int, list[float]]:
    """Single appends by `ledger` after `other` (another process's writer) recorded a visit for
    the same member each time: `ledger` steps that visit onto its cached member first."""
    rng = random.Random(seed)
    for events in HISTORIES:  # `ledger` caches the members, untimed
        _append(ledger, [_visit(_member(events), _random_day(rng))])
    times: dict[int, list[float]] = {events: [] for events in HISTORIES}
    for _ in range(samples):
        for events in HISTORIES:
            _append(other, [_visit(_member(events), _random_day(rng))])
            visit = _visit(_member(events), _random_day(rng))
            times[events].append(_timed(functools.partial(_append, ledger, [visit])))
    return times


def _uncached(ledger: Ledger, other: Ledger, samples: int, seed: int) -> dict[int, list[float]]:
    """Single appends by `ledger` after `other` changed a payer setting each time (a fact every
    member depends on), so the member is read back from the ledger in full: what a restarted
    process, or one whose cache dropped the member, pays."""
    rng = random.Random(seed)
    times: dict[int, list[float]] = {events: [] for events in HISTORIES}
    for _ in range(samples):
        for events in HISTORIES:
            _append(other, [_settings()])
            visit = _visit(_member(events), _random_day(rng))
            times[events].append(_timed(functools.partial(_append, ledger, [visit])))
    return times


def _quantiles(prefix: str, times: dict[int, list[float]], p50: bool) -> dict[str, float]:
    """`{prefix}_p99_ms_at_{events}` (and the p50s) of each history."""
    figures = {
        f"{prefix}_p99_ms_at_{events}": round(percentile(found, 0.99), 2)
        for events, found in times.items()
    }
    if p50:
        figures |= {
            f"{prefix}_p50_ms_at_{events}": round(median(found), 2)
            for events, found in times.items()
        }
    return figures


def _analyze(database: Database) -> None:
    """Table statistics, as autovacuum would have them by now in a running service."""
    connection = database.connect()
    try:
        connection.execute("ANALYZE")
    finally:
        connection.close()


def _quiet_disk(database: Database | None = None) -> None:
    """Write out what earlier parts left dirty (PostgreSQL's buffers when allowed, then the
    kernel's), so a commit's sync is not charged for their writes."""
    if database is not None:
        connection = database.connect()
        try:
            connection.execute("CHECKPOINT")
        except psycopg.Error:  # needs superuser or pg_checkpoint: then the kernel's only
            pass
        finally:
            connection.close()
    os.sync()


def postgres(database_url: str, scale: float) -> dict[str, float]:
    samples, cold_samples = max(20, int(200 * scale)), max(10, int(40 * scale))
    database = Database(database_url)
    database.migrate()
    ledger = Ledger(database, InlineProjector())
    log(f"append: members with {', '.join(map(str, HISTORIES))} events (PostgreSQL)")
    started = time.perf_counter()
    _build(ledger, HISTORIES)
    figures = {"append_history_build_s": round(time.perf_counter() - started, 1)}
    _analyze(database)
    _quiet_disk(database)
    log(
        f"append: {samples} single appends per member, warm and after another process's; "
        f"{cold_samples} uncached"
    )
    figures |= _quantiles("append_one_event", _warm(ledger, samples, seed=1), p50=True)
    second = Ledger(database, InlineProjector())  # another process's writer
    other = _other_process(second, ledger, samples, seed=2)
    figures |= _quantiles("append_one_event_after_other_process", other, p50=True)
    uncached = _uncached(second, ledger, cold_samples, seed=3)
    figures |= _quantiles("append_one_event_uncached", uncached, p50=True)
    return figures


def sqlite(scale: float) -> dict[str, float]:
    samples, sync_samples = max(20, int(200 * scale)), max(50, int(500 * scale))
    directory = Path(tempfile.mkdtemp(prefix="bench-append-"))
    try:
        full = Database(f"sqlite:///{directory / 'full.db'}")
        full.migrate()
        ledger = Ledger(full, InlineProjector())
        log(f"append: the same on SQLite, in {directory}")
        _build(ledger, HISTORIES)
        _quiet_disk()
        warm = _warm(ledger, samples, seed=3)
        figures = _quantiles("sqlite_append_one_event", warm, p50=True)
        log(f"append: SQLite synchronous FULL against NORMAL, {sync_samples} appends each")
        normal = Database(f"sqlite:///{directory / 'normal.db'}", sqlite_synchronous="NORMAL")
        normal.migrate()
        other = Ledger(normal, InlineProjector())
        _build(other, (10,))
        _quiet_disk()
        figures |= _synchronous(ledger, other, sync_samples)
        return figures
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _synchronous(full: Ledger, normal: Ledger, samples: int) -> dict[str, float]:
    """Appends to a member of 10 events in each database, in turn."""
    rng = random.Random(4)
    times: dict[str, list[float]] = {"full": [], "normal": []}
    for _ in range(samples):
        for name, ledger in (("full", full), ("normal", normal)):
            visit = _visit(_member(10), _random_day(rng))
            times[name].append(_timed(functools.partial(_append, ledger, [visit])))
    figures: dict[str, float] = {}
    for name, found in times.items():
        figures[f"sqlite_append_one_event_p50_ms_{name}"] = round(median(found), 3)
        figures[f"sqlite_append_one_event_p99_ms_{name}"] = round(percentile(found, 0.99), 3)
    return figures


def run(database_url: str, scale: float) -> dict[str, float]:
    return postgres(database_url, scale) | sqlite(scale)
