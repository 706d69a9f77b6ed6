"""`python -m bench [part ...]`: run benchmarks, print `name: value` lines, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import append, baseline, bulk_import, history, ingest, queries, writers
from bench.common import fresh_database, log, postgres_server

PARTS = ("baseline", "ingest", "import", "queries", "rebuild", "append")
RESULTS = Path(__file__).parent / "results" / "latest.json"
RATIOS = {
    "ingest_batched_ratio": ("ingest_batched_events_per_s", "copy_rows_per_s"),
    "ingest_single_ratio": ("ingest_single_requests_per_s", "insert_16conn_rows_per_s"),
    "rebuild_ratio": ("rebuild_events_per_s", "seq_read_rows_per_s"),
    "import_ratio": ("import_events_per_s", "copy_rows_per_s"),
    # not against a baseline: 16 writers in 16 tenants against the same 16 in one (target >= 3)
    "writers_tenant_scaling": ("writers_16_tenants_events_per_s", "writers_1_tenant_events_per_s"),
    # what SQLite's synchronous = FULL costs a single append, against NORMAL (same run, same disk)
    "sqlite_full_over_normal": (
        "sqlite_append_one_event_p50_ms_full",
        "sqlite_append_one_event_p50_ms_normal",
    ),
}


def _git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).parent,
        )  # fmt: skip
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _machine() -> dict[str, Any]:
    memory_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_gb": round(memory_kb / 1024 / 1024, 1)}


def run(parts: list[str], scale: float) -> dict[str, Any]:
    figures: dict[str, Any] = {"scale": scale, "git_commit": _git_commit(), "machine": _machine()}
    with postgres_server() as server:
        with fresh_database(server, "baseline") as url:
            figures |= baseline.run(url, scale)
        if "ingest" in parts:
            with fresh_database(server, "ingest") as url:
                figures |= ingest.run(url, scale)
            for tenants in (writers.TENANTS, 1):
                with fresh_database(server, f"writers{tenants}") as url:
                    figures |= writers.concurrent(url, scale, tenants)
            with fresh_database(server, "ingest2proc") as url:
                figures |= writers.two_processes(url, scale)
        if "import" in parts:
            with fresh_database(server, "import") as url:
                figures |= bulk_import.run(url, scale)
        if "queries" in parts:
            with fresh_database(server, "small") as url:
                log(f"history: building {int(200_000 * scale):,} events")
                small = history.build(url, int(200_000 * scale))
                figures["rebuild_events_per_s_200k"] = queries.rebuild(small)[
                    "rebuild_events_per_s"
                ]
                figures |= queries.measure(small, max(20, int(300 * scale)), 0, "200k")
        if "queries" in parts or "rebuild" in parts:
            with fresh_database(server, "large") as url:
                log(f"history: building {int(2_000_000 * scale):,} events")
                large = history.build(url, int(2_000_000 * scale))
                figures["ledger_events_2m"] = large.events
                log(f"rebuild: {large.events:,} events")
                figures |= queries.rebuild(large)
                if "queries" in parts:
                    samples, retro = max(20, int(300 * scale)), max(20, int(50 * scale))
                    figures |= queries.measure(large, samples, retro, "2m")
        if "append" in parts:
            with fresh_database(server, "append") as url:
                figures |= append.run(url, scale)
    for ratio, (numerator, denominator) in RATIOS.items():
        if numerator in figures and figures.get(denominator):
            figures[ratio] = round(figures[numerator] / figures[denominator], 4)
    return figures


def _print(figures: dict[str, Any]) -> None:
    beside = {numerator: ratio for ratio, (numerator, _) in RATIOS.items()}
    for name, value in figures.items():
        if name in RATIOS or name in ("git_commit", "machine"):
            continue
        line = f"{name}: {value}"
        if name in beside and beside[name] in figures:
            ratio = beside[name]
            line += f"    ({ratio}: {figures[ratio]} of {RATIOS[ratio][1]})"
        print(line)
    for ratio in RATIOS:
        if ratio in figures:
            print(f"{ratio}: {figures[ratio]}")
    print(f"git_commit: {figures['git_commit']}")
    print(f"machine: {figures['machine']['cores']} cores, {figures['machine']['memory_gb']} GB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of benefit-ledger on PostgreSQL, each against a baseline measured "
        "in the same run (asyncpg COPY, 16-connection INSERTs, a sequential read). Builds its own "
        "data in throwaway databases. PostgreSQL: BENCH_POSTGRES_URL, else 127.0.0.1:5432, else "
        "an embedded cluster.",
    )
    parser.add_argument(
        "parts", nargs="*", choices=[*PARTS, []], default=[],
        help="baseline, ingest, import (NDJSON bulk import), queries (as-of, known_at, "
        "retroactive change; includes a rebuild), rebuild, append (one more event by the "
        "member's history; SQLite synchronous FULL against NORMAL); default: all",
    )  # fmt: skip
    parser.add_argument(
        "--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1")),
        help="multiplies every size and duration (default $BENCH_SCALE or 1; 0.01 for a smoke run)",
    )  # fmt: skip
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})"
    )
    args = parser.parse_args(argv)
    parts = list(args.parts) or list(PARTS)
    started = time.perf_counter()
    figures = run(parts, args.scale)
    figures["bench_seconds"] = round(time.perf_counter() - started, 1)
    _print(figures)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
