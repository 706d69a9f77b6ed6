"""The benchmark harness runs end to end at a tiny scale, so it cannot rot. No timing is asserted:
only that every figure the issue names is produced as a number."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FIGURES = (
    "copy_rows_per_s",
    "insert_16conn_rows_per_s",
    "seq_read_rows_per_s",
    "ingest_batched_events_per_s",
    "ingest_batched_ratio",
    "projection_lag_p50_ms",
    "projection_lag_p99_ms",
    "ingest_single_requests_per_s",
    "ingest_single_ratio",
    "ingest_single_p50_ms",
    "ingest_single_p99_ms",
    "writers_16_tenants_events_per_s",
    "writers_1_tenant_events_per_s",
    "writers_tenant_scaling",
    "ingest_batched_2proc_events_per_s",
    "projection_lag_2proc_p50_ms",
    "projection_lag_2proc_p99_ms",
    "asof_query_p99_ms_200k",
    "asof_query_p99_ms_2m",
    "known_at_query_p99_ms_2m",
    "retro_change_p99_ms",
    "rebuild_events_per_s",
    "rebuild_ratio",
    "rebuild_peak_rss_mb",
    "import_events_per_s",
    "import_ratio",
    "import_peak_rss_mb",
    "append_one_event_p99_ms_at_10",
    "append_one_event_p99_ms_at_1000",
    "append_one_event_p99_ms_at_5000",
    "append_one_event_p50_ms_at_10",
    "append_one_event_p50_ms_at_5000",
    "append_one_event_after_other_process_p99_ms_at_10",
    "append_one_event_uncached_p99_ms_at_10",
    "append_one_event_after_other_process_p99_ms_at_1000",
    "append_one_event_uncached_p99_ms_at_1000",
    "append_one_event_after_other_process_p99_ms_at_5000",
    "append_one_event_uncached_p99_ms_at_5000",
    "sqlite_append_one_event_p99_ms_at_10",
    "sqlite_append_one_event_p99_ms_at_1000",
    "sqlite_append_one_event_p99_ms_at_5000",
    "sqlite_append_one_event_p50_ms_full",
    "sqlite_append_one_event_p50_ms_normal",
    "sqlite_full_over_normal",
)


def test_bench_smoke_run_writes_every_figure(postgres_server_url: str, tmp_path: Path) -> None:
    output = tmp_path / "latest.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--scale", "0.002", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        # as an operator runs it: without the tests' secret key
        env={
            **{k: v for k, v in os.environ.items() if k != "BENEFIT_LEDGER_SECRET_KEY"},
            "BENCH_POSTGRES_URL": postgres_server_url,
        },
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(output.read_text())
    for name in FIGURES:
        assert isinstance(figures[name], int | float), name
        assert figures[name] > 0, name
        assert f"{name}: " in done.stdout, name
    assert figures["scale"] == 0.002
    assert figures["machine"]["cores"] >= 1
    assert figures["git_commit"]
