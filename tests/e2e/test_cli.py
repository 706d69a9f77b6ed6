"""The command line as a user meets it: `--version`, what `tick` and `rebuild` say they did, and
what they refuse (an unknown tenant, a SQLite path that does not exist)."""

from __future__ import annotations

import json
import re
from datetime import date
from importlib.metadata import version
from pathlib import Path

import pytest

from services.ledger.db import Database
from services.ledger.demo import weekly_example
from tests.e2e.processes import run_cli

FIRST_SUNDAY = date(2026, 10, 4)
TENANT = "agency-1"


def imported_ledger(tmp_path: Path) -> str:
    """A new SQLite ledger made by `import` (which may create one): the weekly example."""
    path = tmp_path / "events.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in weekly_example(FIRST_SUNDAY)))
    database = f"sqlite:///{tmp_path / 'ledger.db'}"
    imported = run_cli("import", "--tenant", TENANT, "--database", database, str(path))
    assert imported.returncode == 0, imported.stderr
    assert (tmp_path / "ledger.db").exists()
    return database


def test_version_is_the_installed_package_version() -> None:
    shown = run_cli("--version")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"benefit-ledger {version('benefit-ledger')}"


@pytest.mark.parametrize(
    "command",
    [
        ("keys", "create", "--tenant", TENANT, "--roles", "reader"),
        ("rebuild",),
        ("tick",),
        ("relay", "--once"),
    ],
    ids=lambda command: command[0],
)
def test_a_sqlite_path_that_does_not_exist_is_refused(tmp_path: Path, command: tuple[str]) -> None:
    typo = tmp_path / "ledgr.db"
    refused = run_cli(*command, "--database", f"sqlite:///{typo}")
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert f"benefit-ledger: no ledger at {typo.resolve()} (sqlite:///{typo})" in refused.stderr
    assert "`benefit-ledger serve` or `import` creates a new one" in refused.stderr
    assert not typo.exists(), "the refused command created the file"


def test_keys_create_on_an_existing_ledger_prints_the_key_alone(tmp_path: Path) -> None:
    database = imported_ledger(tmp_path)
    created = run_cli(
        "keys", "create", "--tenant", TENANT, "--roles", "reader", "--database", database
    )
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"\S+\n", created.stdout), created.stdout


def test_rebuild_says_what_it_replayed_and_corrected(tmp_path: Path) -> None:
    database = imported_ledger(tmp_path)
    healthy = run_cli("rebuild", "--database", database)
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout == (
        "rebuild: 1 tenant, 6 ledger events, 1 member replayed; "
        "read models were up to date (0 corrected)\n"
    )

    scratch = run_cli("rebuild", "--from-scratch", "--database", database)
    assert scratch.returncode == 0, scratch.stderr
    assert scratch.stdout == (
        "rebuild from scratch: 1 tenant, 6 ledger events, 1 member replayed; "
        "read models written anew\n"
    )

    connection = Database(database).connect()
    try:
        with connection.transaction(write=True):
            connection.execute("DELETE FROM accumulation_views WHERE tenant = ?", (TENANT,))
    finally:
        connection.close()
    repaired = run_cli("rebuild", "--tenant", TENANT, "--database", database)
    assert repaired.returncode == 0, repaired.stderr
    assert repaired.stdout == (
        "rebuild: 1 tenant, 6 ledger events, 1 member replayed; "
        "1 member's read models differed (1 corrected)\n"
    )


@pytest.mark.parametrize("from_scratch", [False, True])
def test_rebuild_of_an_unknown_tenant_is_refused(tmp_path: Path, from_scratch: bool) -> None:
    database = imported_ledger(tmp_path)
    options = ["--from-scratch"] if from_scratch else []
    refused = run_cli("rebuild", "--tenant", "agency-9", *options, "--database", database)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert (
        f"benefit-ledger: no events recorded for tenant 'agency-9' in {database} "
        f"(tenants with events: {TENANT})"
    ) in refused.stderr
    connection = Database(database).connect()
    try:
        tenants = connection.execute("SELECT tenant FROM ledger_heads ORDER BY tenant")
        views = connection.execute("SELECT COUNT(*) FROM accumulation_views")
    finally:
        connection.close()
    assert [row[0] for row in tenants] == [TENANT]  # no head made for the unknown tenant
    assert views[0][0] == 1  # nothing emptied


def test_tick_says_what_it_emitted(tmp_path: Path) -> None:
    database = imported_ledger(tmp_path)
    second_week = "2026-10-11"
    first = run_cli("tick", "--date", second_week, "--database", database)
    assert first.returncode == 0, first.stderr
    said = re.fullmatch(
        rf"tick for {second_week}: (\d+) events? emitted \((.+)\) for 1 key of 1 tenant\n",
        first.stderr,
    )
    assert said, first.stderr
    assert "1 balance.changed" in said[2].split(", "), first.stderr

    again = run_cli("tick", "--date", second_week, "--database", database)
    assert again.returncode == 0, again.stderr
    assert again.stderr == f"tick for {second_week}: 0 events emitted for 1 key of 1 tenant\n"
