"""The SQLite ledger on disk: readable by its owner only, and every acknowledged commit on disk.

The file holds member data: it is created 0600 whatever the umask, and SQLite gives the -wal and
-shm files beside it the same mode. `synchronous = FULL` syncs the WAL at every commit, so a
power loss cannot take back a write the service answered (NORMAL could).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.ledger.db import Database


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual default: files readable by everyone
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_wal_and_shm_files_are_created_owner_only(
    tmp_path: Path, open_umask: None
):
    path = tmp_path / "data" / "ledger.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    connection = database.connect()
    try:
        with connection.transaction(write=True):
            connection.execute(
                "INSERT INTO ledger_heads (tenant, position, recorded_at) VALUES (?, ?, ?)",
                ("t-file", 0, "2026-01-01T00:00:00.000000Z"),
            )
        files = sorted(found.name for found in path.parent.iterdir())
        assert files == ["ledger.db", "ledger.db-shm", "ledger.db-wal"]
        assert {name: mode(path.parent / name) for name in files} == dict.fromkeys(files, 0o600)
        assert connection.execute("PRAGMA synchronous") == [(2,)]  # FULL
    finally:
        connection.close()


def test_an_existing_file_keeps_the_mode_its_operator_gave_it(tmp_path: Path, open_umask: None):
    path = tmp_path / "ledger.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    Database(f"sqlite:///{path}").migrate()
    assert mode(path) == 0o640
