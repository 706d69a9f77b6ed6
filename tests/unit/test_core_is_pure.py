"""The pure core loads no I/O module, not even through another module (ruff's banned-import
rule sees only direct imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).parents[2] / "services" / "projections" / "core"
IO_MODULES = ("psycopg", "asyncpg", "sqlite3", "fastapi", "httpx", "services.ledger.db")


def test_importing_the_core_loads_no_io_module():
    modules = sorted(f"services.projections.core.{p.stem}" for p in CORE.glob("[!_]*.py"))
    assert len(modules) >= 10
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(','.join(m for m in {IO_MODULES!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=CORE.parents[2],
    )
    assert done.stdout.strip() == ""
