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
        if name in RATIOS or name in ("git_commit", "machine", "previous_run"):
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


# a figure worse than the previous landed run's by more than this is marked (issue 15's bound)
REGRESSION = 0.10


def _worse_by(name: str, previous: float, now: float) -> float | None:
    """How much worse `now` is than `previous` (0.25: 25% worse); None when not comparable.
    Times (`_ms`, `_s`) and memory (`_mb`) are better lower, rates and ratios higher."""
    if previous <= 0 or now < 0:
        return None
    if name.endswith(("_per_s", "_ratio", "_scaling")) or "_per_s_" in name:
        return previous / now - 1 if now > 0 else None
    if name.endswith(("_ms", "_s", "_mb")) or "_ms_" in name:
        return now / previous - 1
    return None


def compare(previous: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any]:
    """Each figure both runs have, against the previous landed run (same scale only)."""
    if previous.get("scale") != figures.get("scale"):
        return {}
    compared: dict[str, Any] = {}
    for name, now in figures.items():
        before = previous.get(name)
        if (
            name == "scale"
            or not isinstance(now, int | float)
            or not isinstance(before, int | float)
        ):
            continue
        worse = _worse_by(name, float(before), float(now))
        if worse is not None:
            compared[name] = {"previous": before, "now": now, "worse_by": round(worse, 4)}
    return compared


def _print_comparison(previous: dict[str, Any], compared: dict[str, Any]) -> None:
    print(f"against the previous landed run ({str(previous.get('git_commit'))[:10]}):")
    for name, row in compared.items():
        mark = "  << worse by more than 10%" if row["worse_by"] > REGRESSION else ""
        print(f"  {name}: {row['previous']} -> {row['now']} ({row['worse_by']:+.1%} worse){mark}")


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
        "--output", type=Path, default=None,
        help=f"JSON file (default {RESULTS} for a run of every part; "
        "bench/results/partial-PARTS.json for some parts, so a partial run never replaces the "
        "full one)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    parts = list(args.parts) or list(PARTS)
    if args.output is None:
        whole = set(parts) == set(PARTS)
        args.output = RESULTS if whole else RESULTS.with_name(f"partial-{'-'.join(parts)}.json")
    started = time.perf_counter()
    figures = run(parts, args.scale)
    figures["bench_seconds"] = round(time.perf_counter() - started, 1)
    if RESULTS.exists():  # the landed full run, before this one replaces it
        previous = json.loads(RESULTS.read_text())
        compared = compare(previous, figures)
        if compared:
            figures["previous_run"] = {
                "git_commit": previous.get("git_commit"),
                "figures": compared,
            }
    _print(figures)
    if "previous_run" in figures:
        _print_comparison(figures["previous_run"], figures["previous_run"]["figures"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
