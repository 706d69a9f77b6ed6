"""`benefit-ledger rebuild` and `import`: the commands that replay or load a whole ledger, with
progress bars (events/s for an import)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from services.api.command_output import plural, rebuild_summary, unknown_tenant
from services.api.settings import database_url

if TYPE_CHECKING:  # imported where used: the command starts fast
    from rich.console import Console
    from rich.progress import Progress


def progress_bar(console: Console, *texts: str) -> Progress:
    """The commands' progress bars: description, bar, done/total, extra texts, elapsed time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    extra = [TextColumn(text) for text in texts]
    columns = [BarColumn(), MofNCompleteColumn(), *extra, TimeElapsedColumn()]
    return Progress("[progress.description]{task.description}", *columns, console=console)


def rebuild(args: argparse.Namespace) -> int:
    from rich.console import Console

    from services.ledger.db import Database
    from services.ledger.recorder import lock_heads
    from services.projections.runner import (
        members_of,
        recalculate,
        recalculate_in_parallel,
        truncate_read_models,
    )

    console = Console(stderr=True)
    database = Database(database_url(args.database))
    database.migrate()
    workers = args.workers or (os.cpu_count() or 1 if database.dialect == "postgres" else 1)
    if workers > 1 and database.dialect != "postgres":
        console.print("SQLite has one writer at a time: rebuilding with 1 worker")
        workers = 1
    connection = database.connect()
    try:
        sizes = _ledger_sizes(connection)
        if args.tenant is not None and args.tenant not in sizes:
            unknown = unknown_tenant(args.tenant, database.url, sizes)
            print(f"benefit-ledger: {unknown}", file=sys.stderr)
            return 2
        if args.tenant is not None:
            sizes = {args.tenant: sizes[args.tenant]}
        if args.from_scratch:
            with connection.transaction(write=True):
                tenants = [args.tenant] if args.tenant else _tenants(connection)
                lock_heads(connection, tenants)
                truncate_read_models(connection, args.tenant)
        total = len(members_of(connection, args.tenant))
        with progress_bar(console) as progress:
            title = f"replaying members ({plural(workers, 'worker')})"
            task = progress.add_task(title, total=total)
            advance = lambda n: progress.advance(task, n)  # noqa: E731
            if workers > 1:
                checked, corrected = recalculate_in_parallel(
                    database.url, args.tenant, workers, advance
                )
            else:
                checked, corrected = recalculate(connection, args.tenant, None, advance)
        _track_ledger_end(connection, args.tenant)
    finally:
        connection.close()
    print(rebuild_summary(sizes, checked, corrected, from_scratch=args.from_scratch))
    return 0


def _ledger_sizes(connection: object) -> dict[str, int]:
    """Every tenant with events, and how many its ledger holds (positions are gap-free)."""
    from services.ledger.db import Connection

    assert isinstance(connection, Connection)
    rows = connection.execute("SELECT tenant, position FROM ledger_heads WHERE position > 0")
    return {row[0]: int(row[1]) for row in rows}


def _tenants(connection: object) -> list[str]:
    from services.ledger.db import Connection

    assert isinstance(connection, Connection)
    return [row[0] for row in connection.execute("SELECT tenant FROM ledger_heads")]


def _track_ledger_end(connection: object, tenant: str | None) -> None:
    from services.ledger.db import Connection
    from services.ledger.recorder import lock_heads
    from services.projections.runner import track_heads

    assert isinstance(connection, Connection)
    with connection.transaction(write=True):
        lock_heads(connection, [tenant] if tenant else _tenants(connection), shared=True)
        track_heads(connection, tenant)


def import_file(args: argparse.Namespace) -> int:
    from rich.console import Console

    from services.api.importer import import_events
    from services.ledger.db import Database

    console = Console(stderr=True)
    database = Database(database_url(args.database))
    database.migrate()
    if args.file == "-":
        source, total = sys.stdin, None
    else:
        path = Path(args.file)
        if not path.is_file():
            print(f"benefit-ledger: no such file: {args.file}", file=sys.stderr)
            return 2
        with path.open(encoding="utf-8") as counted:
            total = sum(1 for line in counted if line.strip())
        source = path.open(encoding="utf-8")
    started = time.perf_counter()
    with source, progress_bar(console, "{task.fields[rate]}") as progress:
        task = progress.add_task(f"importing into {args.tenant}", total=total, rate="")

        def advance(events: int) -> None:
            progress.advance(task, events)
            done = progress.tasks[task].completed
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress.update(task, rate=f"{rate:,.0f} events/s")

        replay = progress.add_task(
            "replaying the members it touched", total=None, rate="", visible=False
        )
        result = import_events(
            database,
            args.tenant,
            source,
            on_chunk=advance,
            on_replay=lambda members: progress.advance(replay, members),
            on_replay_start=lambda total: progress.update(replay, total=total, visible=True),
        )
    seconds = time.perf_counter() - started
    print(
        f"imported {plural(result.recorded, 'event')} ({result.duplicates:,} already recorded) "
        f"for {plural(len(result.members), 'member')} in {seconds:.1f} s; projections are up to "
        "date",
        file=sys.stderr,
    )
    return 0
