"""`benefit-ledger import` of an NDJSON file as a child process: events per second, peak RSS.

The file holds members with weekly history as `bench/history.py` builds it (a payer setting,
one weekly line per member, visits scheduled, confirmed and missed), written week by week as a
migration from another system would export it. The figure includes the replay of the members at
the end, so the tenant's balances are queryable when the command returns.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench.common import BIN, event, log, run_child
from bench.history import EVENTS_PER_MEMBER, WEEKS, _week_events

TENANT = "bench-import"


def _write(path: Path, members: int) -> int:
    count = 0
    with path.open("w") as out:
        settings = event(
            "payer.settings_changed", {"payer_id": "payer-1", "allow_accumulation": True}
        )
        out.write(json.dumps(settings) + "\n")
        count += 1
        for week in range(WEEKS):
            for member in range(members):
                for item in _week_events(member, week):
                    out.write(json.dumps(item) + "\n")
                    count += 1
    return count


def run(database_url: str, scale: float) -> dict[str, float]:
    members = max(2, int(500_000 * scale) // EVENTS_PER_MEMBER)
    with tempfile.TemporaryDirectory(prefix="bench-import-") as directory:
        path = Path(directory) / "events.ndjson"
        events = _write(path, members)
        log(f"import: {events:,} events of {members:,} members")
        elapsed, rss_mb = run_child(
            [str(BIN), "import", "--tenant", TENANT, "--database", database_url, str(path)],
            "import",
        )
    return {
        "import_events": events,
        "import_events_per_s": round(events / elapsed),
        "import_peak_rss_mb": rss_mb,
    }
