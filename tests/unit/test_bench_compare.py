"""`make bench` compares each figure with the previous landed run: which way is worse."""

from __future__ import annotations

from bench.__main__ import compare


def test_times_are_worse_higher_and_rates_worse_lower() -> None:
    previous = {
        "scale": 1.0,
        "git_commit": "abc",
        "asof_query_p99_ms_2m": 2.0,
        "ingest_batched_events_per_s": 2000,
        "ingest_batched_ratio": 0.024,
        "import_peak_rss_mb": 100.0,
        "ledger_events_2m": 2_000_000,
    }
    now = {
        "scale": 1.0,
        "git_commit": "def",
        "asof_query_p99_ms_2m": 2.5,
        "ingest_batched_events_per_s": 2500,
        "ingest_batched_ratio": 0.02,
        "import_peak_rss_mb": 90.0,
        "ledger_events_2m": 2_000_000,
    }
    compared = compare(previous, now)
    assert compared["asof_query_p99_ms_2m"]["worse_by"] == 0.25
    assert compared["ingest_batched_events_per_s"]["worse_by"] == -0.2  # better
    assert compared["ingest_batched_ratio"]["worse_by"] == 0.2
    assert compared["import_peak_rss_mb"]["worse_by"] == -0.1
    assert "ledger_events_2m" not in compared  # a size, neither better nor worse
    assert "git_commit" not in compared


def test_runs_of_another_scale_are_not_compared() -> None:
    assert compare({"scale": 0.5, "x_per_s": 1}, {"scale": 1.0, "x_per_s": 2}) == {}
