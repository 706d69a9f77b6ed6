"""`benefit-ledger import` as a user runs it: a file or standard input, then a rerun."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from services.ledger.db import Database
from services.ledger.demo import reduction, weekly_example
from tests.e2e.conftest import cli


def test_import_a_file_then_stdin_resumes_as_duplicates(tmp_path: Path):
    database = f"sqlite:///{tmp_path / 'ledger.db'}"
    events = [*weekly_example(date(2026, 10, 4)), reduction()]
    path = tmp_path / "events.ndjson"
    path.write_text("".join(json.dumps(event) + "\n" for event in events[:5]))
    first = cli("import", "--tenant", "agency-1", "--database", database, str(path))
    assert first.returncode == 0, first.stderr
    assert "imported 5 events (0 already recorded) for 1 member" in first.stderr
    assert "events/s" in first.stderr  # the progress bar's rate

    everything = "".join(json.dumps(event) + "\n" for event in events)
    second = cli("import", "--tenant", "agency-1", "--database", database, "-", stdin=everything)
    assert second.returncode == 0, second.stderr
    assert "imported 2 events (5 already recorded)" in second.stderr
    connection = Database(database).connect()
    try:
        (flags,) = connection.execute("SELECT flags FROM member_views WHERE tenant = 'agency-1'")[0]
    finally:
        connection.close()
    assert "authorization_reduction" in flags  # the replay flagged the cut to 5 units


def test_import_refuses_a_bad_line_with_its_number(tmp_path: Path):
    path = tmp_path / "events.ndjson"
    path.write_text('{"id": "x", "type": "visit.scheduled", "data": {}}\n')
    database = f"sqlite:///{tmp_path / 'ledger.db'}"
    refused = cli("import", "--tenant", "agency-1", "--database", database, str(path))
    assert refused.returncode == 2
    assert "line 1: id: must be a UUID" in refused.stderr
    missing = cli("import", "--tenant", "agency-1", "--database", database, "nope.ndjson")
    assert missing.returncode == 2 and "no such file" in missing.stderr
