"""A real `benefit-ledger serve` process on a free port, and the real command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent / "benefit-ledger"
ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30
COMMAND_TIMEOUT_S = 120


def script_environment() -> dict[str, str]:
    """The console script imports the code of this tree first, wherever the package was
    installed from (a worktree sharing another checkout's virtual environment)."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as a user would."""
    return subprocess.run(
        [str(BIN), *args],
        input=stdin,
        env=script_environment(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    base_url: str
    database: str  # the URL given to `serve --database`, for the other commands


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A running server on a fresh SQLite file, or on the session's PostgreSQL database."""
    if request.param == "sqlite":
        database = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        database = request.getfixturevalue("postgres_url")
    assert BIN.exists(), f"the console script is not installed next to {sys.executable}"
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--database", database],
            env=script_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_healthy(process, base_url, log_path)
        yield Server(base_url, database)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    """Until /healthz answers; fails with the log when the process exits or takes too long."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, f"serve exited early:\n{log.read_text(errors='replace')}"
        assert time.monotonic() < deadline, (
            f"no /healthz in time:\n{log.read_text(errors='replace')}"
        )
        time.sleep(0.2)
