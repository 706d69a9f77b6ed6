"""Alert marks: each alert candidate becomes a derived event once (see alerts.py)."""

from __future__ import annotations

from typing import Any

from services.ledger.db import Connection
from services.projections.core.alerts import Alert
from services.projections.core.derived import Derived
from services.projections.core.facts import LedgerEvent
from services.projections.runner import PRELOAD_CHUNK


def emit_new(
    connection: Connection,
    tenant: str,
    candidates: list[tuple[Alert, int, LedgerEvent | None]],
    at: Any,
) -> list[Derived]:
    """The candidates not marked yet, as derived events (first of a mark wins); marks them."""
    if not candidates:
        return []
    done = _marked(connection, tenant, {(alert.kind, alert.subject) for alert, _, _ in candidates})
    fresh: list[Derived] = []
    marks: list[tuple[str, str, str, str]] = []
    for alert, position, event in candidates:
        if alert.mark in done:
            continue
        done.add(alert.mark)
        marks.append((tenant, *alert.mark))
        fresh.append(Derived(alert.type, alert.data, position, event.recorded_at if event else at))
    connection.insert_rows("alert_marks", ("tenant", "kind", "subject", "scope"), marks)
    return fresh


def _marked(
    connection: Connection, tenant: str, wanted: set[tuple[str, str]]
) -> set[tuple[str, str, str]]:
    """The marks of the (kind, subject) pairs asked about: a primary-key range per kind."""
    found: set[tuple[str, str, str]] = set()
    for kind in sorted({kind for kind, _ in wanted}):
        subjects = sorted(subject for k, subject in wanted if k == kind)
        for start in range(0, len(subjects), PRELOAD_CHUNK):
            chunk = subjects[start : start + PRELOAD_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for subject, scope in connection.execute(
                "SELECT subject, scope FROM alert_marks "
                f"WHERE tenant = ? AND kind = ? AND subject IN ({marks})",
                (tenant, kind, *chunk),
            ):
                found.add((kind, subject, scope))
    return found
