"""Helpers for the multi-process and crash tests: fresh PostgreSQL databases, `serve` and the
command line as processes of this worktree's code, a seeded random history, and what a
database holds (ledger, read models, derived events) read by SQL.

Processes run `python -m services.api.cli` from the repository root, so they import the code
next to this file, not whatever the console script was installed from.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from services.ledger.db import Database
from services.ledger.keys import create_key
from tests.conftest import fresh_postgres_database as fresh_database
from tests.e2e.conftest import wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT_S = 120

Event = dict[str, Any]


# --- databases ----------------------------------------------------------------------------


def fresh_postgres_database(server_url: str) -> AbstractContextManager[str]:
    """A new empty database on the server, dropped (with any leftover sessions) afterwards."""
    return fresh_database(server_url, "benefit_ledger_e2e")


ROLES = ["writer", "reader", "supervisor", "subscriber"]


def make_keys(url: str, tenants: list[str]) -> dict[str, str]:
    """Migrate the database and give every tenant one key with every role the tests use."""
    database = Database(url)
    database.migrate()
    now = datetime.now(UTC)
    return {tenant: create_key(database, tenant, ROLES, now)[0] for tenant in tenants}


# --- processes ----------------------------------------------------------------------------


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.api.cli", *args]


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(ROOT)
    environment.pop("BENEFIT_LEDGER_DATABASE_URL", None)
    return environment


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*args),
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def start_cli(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """A command in a process group of its own (rebuild's worker processes die with it)."""
    with log.open("ab") as output:
        return subprocess.Popen(
            cli_command(*args),
            cwd=ROOT,
            env=_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and every process of its group, then reap it."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Serve:
    """One `serve` process on a database; started, killed and started again at will."""

    database: str
    log: Path
    process: subprocess.Popen[bytes] | None = None
    base_url: str = ""

    def start(self) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                cli_command(
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--database",
                    self.database,
                    "--log-level",
                    "warning",
                ),
                cwd=ROOT,
                env=_environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def wait_healthy(self) -> None:
        assert self.process is not None
        wait_until_healthy(self.process, self.base_url, self.log)

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, open transactions cut off."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.reap()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.reap()

    def reap(self) -> None:
        if self.process is not None:
            self.process.wait(timeout=10)
            self.process = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


@contextmanager
def serving(database: str, logs: Path, count: int = 1) -> Iterator[list[Serve]]:
    """`count` serve processes on one database, started side by side, stopped afterwards."""
    servers = [Serve(database, logs / f"serve-{index}.log") for index in range(count)]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_healthy()
        yield servers
    finally:
        for server in servers:
            server.stop()


@dataclass
class Tenanted:
    """One `serve` on a fresh SQLite ledger, with one tenant and its key of every test role."""

    serve: Serve
    tenant: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@contextmanager
def serving_a_tenant(directory: Path) -> Iterator[Tenanted]:
    """A fresh SQLite ledger in `directory`, a tenant with a key, and `serve` running on it
    (environment variables set before this, e.g. by monkeypatch, reach the process)."""
    database = f"sqlite:///{directory / 'ledger.db'}"
    tenant = f"tenant-{uuid.uuid4().hex[:10]}"
    key = make_keys(database, [tenant])[tenant]
    with serving(database, directory) as (serve,):
        yield Tenanted(serve, tenant, key)


# --- a seeded random history --------------------------------------------------------------

START = date(2026, 1, 4)  # a Sunday; every line and visit falls in the ten weeks from here,
WINDOW_DAYS = 70  # long before the tests run: no period is current, the tick emits nothing
PAYERS = ("p-1", "p-2")
NUMBERS = ("A-1", "b-2")
CODES = ("T1", "s2")
FREQUENCIES = ("day", "week", "month", "span")
LINE_UNITS = ("0", "1", "2", "3", "4", "1.5")
VISIT_UNITS = ("0", "1", "2", "3", "4", "6", "0.5")
KINDS = (
    ("grant", 3),
    ("amend", 4),
    ("void", 1),
    ("remove", 1),
    ("new visit", 7),
    ("visit change", 7),
    ("coverage", 2),
)


@dataclass
class Batch:
    """One request's events: of one member, or tenant-wide (payer settings)."""

    name: str
    tenant: str
    member: str | None
    phase: int
    events: list[Event]


@dataclass
class History:
    tenants: list[str]
    members: dict[str, list[str]]
    batches: list[Batch]  # in the order one sequential writer sends them

    def event_count(self) -> int:
        return sum(len(batch.events) for batch in self.batches)


@dataclass
class _Line:
    number: str
    code: str
    payer: str
    first: int
    last: int
    active: bool = True


@dataclass
class _Member:
    """What the generator has sent for one member, so most events are valid."""

    name: str
    lines: dict[str, _Line] = field(default_factory=dict)
    visits: dict[str, int] = field(default_factory=dict)
    open_coverage: dict[str, int] = field(default_factory=dict)  # payer -> start offset
    removed: set[tuple[str, str]] = field(default_factory=set)


def _day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


class _Generator:
    def __init__(self, rng: random.Random, refusals: bool) -> None:
        self.rng = rng
        self.refusals = refusals
        self.frequency_of = {number: rng.choice(FREQUENCIES) for number in NUMBERS}

    def event(self, kind: str, data: dict[str, Any]) -> Event:
        event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        fields = {name: value for name, value in data.items() if value is not None}
        return {"id": event_id, "type": kind, "data": fields}

    def rarely(self) -> bool:
        """Now and then an event the rules refuse (its whole batch is refused)."""
        return self.refusals and self.rng.randrange(25) == 0

    def settings(self, payer: str, full: bool) -> Event:
        rng = self.rng
        fields: dict[str, Any] = {
            "allow_accumulation": rng.randrange(4) > 0,
            "include_scheduled_units": rng.random() < 0.5,
            "exclude_missed_days": rng.random() < 0.5,
            "week_starts_on": rng.choice(["sunday", "monday", "wednesday"]),
        }
        if not full:
            fields = {k: v for k, v in fields.items() if rng.random() < 0.5} or {
                "allow_accumulation": rng.random() < 0.5
            }
        return self.event("payer.settings_changed", {"payer_id": payer, **fields})

    def member_event(self, member: _Member) -> Event:
        kinds = [kind for kind, weight in KINDS for _ in range(weight)]
        while True:
            made = getattr(self, "_" + self.rng.choice(kinds).replace(" ", "_"))(member)
            if made is not None:
                return made  # type: ignore[no-any-return]

    def _grant(self, member: _Member) -> Event:
        rng = self.rng
        line_id = f"{member.name}-L{len(member.lines) + 1}"
        if self.rarely() and member.lines:
            line_id = rng.choice(sorted(member.lines))  # refused: already granted
        number, code = rng.choice(NUMBERS), rng.choice(CODES)
        frequency = self.frequency_of[number]
        if self.rarely():
            frequency = rng.choice(FREQUENCIES)  # refused while an active line disagrees
        first = rng.randrange(WINDOW_DAYS)
        last = min(WINDOW_DAYS - 1, first + rng.randrange(31))
        payer = rng.choice(PAYERS)
        member.lines.setdefault(line_id, _Line(number, code, payer, first, last))
        member.removed.discard((number, code))
        return self.event(
            "authorization.granted",
            {
                "authorization_id": line_id,
                "authorization_number": number,
                "member_id": member.name,
                "payer_id": payer,
                "service_code": code,
                "frequency": frequency,
                "units": rng.choice(LINE_UNITS),
                "start_date": _day(first),
                "end_date": _day(last),
            },
        )

    def _active_line(self, member: _Member) -> tuple[str, _Line] | None:
        active = sorted(name for name, line in member.lines.items() if line.active)
        if not active:
            return None
        name = self.rng.choice(active)
        return name, member.lines[name]

    def _amend(self, member: _Member) -> Event | None:
        rng = self.rng
        if self.rarely():  # refused: no such line
            return self.event(
                "authorization.amended",
                {"authorization_id": f"{member.name}-L-unknown", "units": "1"},
            )
        found = self._active_line(member)
        if found is None:
            return None
        line_id, line = found
        changes = {c for c in ("units", "start_date", "end_date") if rng.random() < 0.5} or {
            "units"
        }
        start, end = line.first, line.last
        if "start_date" in changes:
            start = min(max(0, line.first + rng.randint(-14, 14)), WINDOW_DAYS - 1)
        if "end_date" in changes:
            end = min(WINDOW_DAYS - 1, max(0, line.last + rng.randint(-14, 14)))
        if end < start:  # keep it valid: move whichever end was changed
            if "end_date" in changes:
                end = start
            else:
                start = end
        line.first, line.last = start, end
        return self.event(
            "authorization.amended",
            {
                "authorization_id": line_id,
                "units": rng.choice(LINE_UNITS) if "units" in changes else None,
                "start_date": _day(start) if "start_date" in changes else None,
                "end_date": _day(end) if "end_date" in changes else None,
            },
        )

    def _void(self, member: _Member) -> Event | None:
        found = self._active_line(member)
        if found is None:
            return None
        line_id, line = found
        line.active = False
        reason = self.rng.choice([None, "per the payer's letter"])
        return self.event("authorization.voided", {"authorization_id": line_id, "reason": reason})

    def _remove(self, member: _Member) -> Event | None:
        found = self._active_line(member)
        if found is None:
            return None
        _, chosen = found
        key = (chosen.number, chosen.code)
        for line in member.lines.values():
            if (line.number, line.code) == key:
                line.active = False
        member.removed.add(key)
        return self.event(
            "authorization.service_removed",
            {"member_id": member.name, "authorization_number": key[0], "service_code": key[1]},
        )

    def _visit_day(self, member: _Member) -> int:
        rng = self.rng
        if member.lines and rng.random() < 0.7:
            line = member.lines[rng.choice(sorted(member.lines))]
            return rng.randint(line.first, line.last)
        if member.visits and rng.random() < 0.5:
            return member.visits[rng.choice(sorted(member.visits))]
        return rng.randrange(WINDOW_DAYS)

    def _new_visit(self, member: _Member) -> Event:
        rng = self.rng
        visit_id = f"{member.name}-V{len(member.visits) + 1}"
        if member.lines and rng.random() < 0.7:
            line = member.lines[rng.choice(sorted(member.lines))]
            payer, code = line.payer, line.code
            number = rng.choice([None, line.number])
        else:
            payer, code = rng.choice(PAYERS), rng.choice(CODES)
            number = rng.choice([None, None, *NUMBERS])
        day = self._visit_day(member)
        member.visits[visit_id] = day
        override = {"by": "supervisor-1", "reason": "family request"}
        return self.event(
            rng.choice(["visit.scheduled", "visit.confirmed"]),
            {
                "visit_id": visit_id,
                "member_id": member.name,
                "payer_id": payer,
                "service_code": code,
                "service_date": _day(day),
                "units": rng.choice(VISIT_UNITS),
                "authorization_number": number,
                "override": override if rng.randrange(15) == 0 else None,
            },
        )

    def _visit_change(self, member: _Member) -> Event | None:
        rng = self.rng
        if not member.visits:
            return None
        visit_id = rng.choice(sorted(member.visits))
        if self.rarely():
            visit_id = f"{member.name}-V-unknown"  # refused: unknown visit
        kinds = ("visit.confirmed", "visit.rescheduled", "visit.missed", "visit.cancelled")
        kind = rng.choice([kinds[0], *kinds])  # confirmations twice as often
        data: dict[str, Any]
        if kind == "visit.confirmed":
            data = {"units": rng.choice([None, *VISIT_UNITS])}
        elif kind == "visit.rescheduled":
            day = self._visit_day(member) if rng.random() < 0.7 else None
            units = rng.choice(VISIT_UNITS) if day is None or rng.random() < 0.5 else None
            if day is not None and visit_id in member.visits:
                member.visits[visit_id] = day
            data = {"service_date": None if day is None else _day(day), "units": units}
        else:
            data = {"reason": rng.choice([None, "no show"])}
        return self.event(kind, {"visit_id": visit_id, **data})

    def _coverage(self, member: _Member) -> Event:
        rng = self.rng
        payer = rng.choice(PAYERS)
        start = member.open_coverage.get(payer)
        if start is None or self.rarely():
            day = rng.randrange(WINDOW_DAYS // 2)
            if start is None:
                member.open_coverage[payer] = day
            kind = "coverage.started"  # refused when one is open already
        else:
            day = rng.randint(start, WINDOW_DAYS - 1)
            del member.open_coverage[payer]
            kind = "coverage.ended"
        return self.event(kind, {"member_id": member.name, "payer_id": payer, "date": _day(day)})


def generate_history(
    seed: int,
    *,
    tenants: int = 3,
    members: int = 5,
    phases: int = 3,
    events_per_phase: tuple[int, int] = (4, 10),
    refusals: bool = True,
) -> History:
    """Per tenant: payer settings, then `phases` phases of member batches (1-4 events of one
    member each) with a tenant-wide settings change between phases.

    Within a phase, each member's batches keep their order, while members interleave at
    random; so a run with concurrent writers per member, and a barrier at each settings change,
    must end in the same ledger content and read models as the sequential order. With
    `refusals`, now and then an event is refused by the rules (its whole batch with it); both
    orders refuse the same batches.
    """
    rng = random.Random(seed)
    generator = _Generator(rng, refusals)
    tenant_names = [f"t-{index + 1}" for index in range(tenants)]
    member_names = {t: [f"m-{i + 1}" for i in range(members)] for t in tenant_names}
    states = {t: {m: _Member(m) for m in member_names[t]} for t in tenant_names}
    batches: list[Batch] = []
    for phase in range(phases):
        for tenant in tenant_names:
            if phase == 0:
                settings = [generator.settings(payer, full=True) for payer in PAYERS]
            else:
                settings = [generator.settings(rng.choice(PAYERS), full=False)]
            batches.append(Batch(f"{tenant}/settings/{phase}", tenant, None, phase, settings))
        queues: list[list[Batch]] = []
        for tenant in tenant_names:
            for member in member_names[tenant]:
                events = [
                    generator.member_event(states[tenant][member])
                    for _ in range(rng.randint(*events_per_phase))
                ]
                queue: list[Batch] = []
                while events:
                    size = rng.randint(1, 4)
                    name = f"{tenant}/{member}/{phase}/{len(queue)}"
                    queue.append(Batch(name, tenant, member, phase, events[:size]))
                    events = events[size:]
                queues.append(queue)
        while any(queues):  # interleave members at random, each one's batches in order
            queue = rng.choice([q for q in queues if q])
            batches.append(queue.pop(0))
    return History(tenant_names, member_names, batches)


# --- what a database holds ----------------------------------------------------------------


def _without_positions(value: Any) -> Any:
    """JSON with every `position` (ledger positions differ with the interleaving) removed."""
    if isinstance(value, dict):
        return {k: _without_positions(v) for k, v in value.items() if k != "position"}
    if isinstance(value, list):
        return [_without_positions(item) for item in value]
    return value


def _frozen(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@dataclass
class TenantState:
    events: set[tuple[Any, ...]]  # (event id, type, member, payer, data, tags)
    positions: list[int]
    event_positions: dict[str, int]
    head: int
    tracking: int
    accumulations: dict[tuple[str, str, str], tuple[int, str]]  # positions removed
    bodies: dict[tuple[str, str, str], str]  # accumulation_views bodies as stored
    visits: dict[str, tuple[str, str]]
    flags: dict[str, str]
    sequences: list[int]
    derived: Counter[tuple[str, str]]  # (type, data without positions)
    balance_changes: list[dict[str, Any]]  # data of every balance.changed, in sequence order


def tenant_state(url: str, tenant: str) -> TenantState:
    connection = Database(url).connect()
    try:
        rows = connection.execute(
            "SELECT position, event_id, type, member_id, payer_id, data, tags "
            "FROM ledger_events WHERE tenant = ? ORDER BY position",
            (tenant,),
        )
        head = connection.execute("SELECT position FROM ledger_heads WHERE tenant = ?", (tenant,))
        tracking = connection.execute(
            "SELECT position FROM projection_tracking WHERE tenant = ?", (tenant,)
        )
        accumulations = connection.execute(
            "SELECT member_id, authorization_number, service_code, accumulates, body "
            "FROM accumulation_views WHERE tenant = ?",
            (tenant,),
        )
        visits = connection.execute(
            "SELECT visit_id, member_id, body FROM visit_views WHERE tenant = ?", (tenant,)
        )
        flags = connection.execute(
            "SELECT member_id, flags FROM member_views WHERE tenant = ?", (tenant,)
        )
        derived = connection.execute(
            "SELECT sequence, type, data FROM derived_events WHERE tenant = ? ORDER BY sequence",
            (tenant,),
        )
    finally:
        connection.close()
    derived_data = [(int(sequence), kind, json.loads(data)) for sequence, kind, data in derived]
    return TenantState(
        events={(r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows},
        positions=[int(r[0]) for r in rows],
        event_positions={r[1]: int(r[0]) for r in rows},
        head=int(head[0][0]) if head else 0,
        tracking=int(tracking[0][0]) if tracking else 0,
        accumulations={
            (r[0], r[1], r[2]): (int(r[3]), _frozen(_without_positions(json.loads(r[4]))))
            for r in accumulations
        },
        bodies={(r[0], r[1], r[2]): r[4] for r in accumulations},
        visits={r[0]: (r[1], _frozen(json.loads(r[2]))) for r in visits},
        flags={r[0]: _frozen(_without_positions(json.loads(r[1]))) for r in flags},
        sequences=[sequence for sequence, _, _ in derived_data],
        derived=Counter(
            (kind, _frozen(_without_positions(data))) for _, kind, data in derived_data
        ),
        balance_changes=[data for _, kind, data in derived_data if kind == "balance.changed"],
    )


def read_models(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row of every tenant, exactly as stored (positions included)."""
    connection = Database(url).connect()
    try:
        return {
            "member_views": sorted(connection.execute("SELECT * FROM member_views")),
            "accumulation_views": sorted(connection.execute("SELECT * FROM accumulation_views")),
            "visit_views": sorted(connection.execute("SELECT * FROM visit_views")),
            "projection_tracking": sorted(connection.execute("SELECT * FROM projection_tracking")),
        }
    finally:
        connection.close()


def assert_gap_free(state: TenantState, tenant: str) -> None:
    """Positions 1..N, head and tracking at N, derived sequences 1..M."""
    count = len(state.positions)
    assert state.positions == list(range(1, count + 1)), f"{tenant}: positions have gaps"
    assert state.head == count, f"{tenant}: head {state.head}, ledger has {count} events"
    assert state.tracking == count, f"{tenant}: tracking {state.tracking}, ledger at {count}"
    assert len(state.event_positions) == count, f"{tenant}: an event id is stored twice"
    assert state.sequences == list(range(1, len(state.sequences) + 1)), (
        f"{tenant}: derived sequences have gaps: {state.sequences}"
    )
