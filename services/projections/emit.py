"""Storing derived events: per-tenant gap-free sequences and per-key versions.

Called inside the writer's transaction, which holds the ledger lock, so `max(sequence) + 1` is
safe and sequences commit in order. Rebuilds never call it: replaying history emits nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from services.ledger.codec import format_timestamp
from services.ledger.db import Connection
from services.projections.core.derived import BALANCE_CHANGED, Derived
from services.projections.feed import last_sequence
from services.projections.runner import PRELOAD_CHUNK

VersionKey = tuple[str, str, str]  # member, authorization number, service code


def _version_key(data: dict[str, Any]) -> VersionKey:
    key = data["key"]
    return (key["member_id"], key["authorization_number"], key["service_code"])


def _versions(connection: Connection, tenant: str, members: list[str]) -> dict[VersionKey, int]:
    found: dict[VersionKey, int] = {}
    for start in range(0, len(members), PRELOAD_CHUNK):
        chunk = members[start : start + PRELOAD_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        for member, number, code, version in connection.execute(
            "SELECT member_id, authorization_number, service_code, version FROM key_versions "
            f"WHERE tenant = ? AND member_id IN ({marks})",
            (tenant, *chunk),
        ):
            found[(member, number, code)] = int(version)
    return found


def store_derived(connection: Connection, tenant: str, events: Iterable[Derived]) -> int:
    """Give the events their sequences (and balance changes their key versions); store them."""
    events = list(events)
    if not events:
        return 0
    changed = {_version_key(e.data) for e in events if e.type == BALANCE_CHANGED}
    versions = _versions(connection, tenant, sorted({key[0] for key in changed}))
    sequence = last_sequence(connection, tenant)
    rows: list[tuple[Any, ...]] = []
    for event in events:
        data = event.data
        if event.type == BALANCE_CHANGED:
            key = _version_key(data)
            versions[key] = versions.get(key, 0) + 1
            data = {**data, "key_version": versions[key]}
        sequence += 1
        body = json.dumps(data, separators=(",", ":"))
        at = format_timestamp(event.occurred_at)
        rows.append((tenant, sequence, str(uuid.uuid4()), event.type, at, event.position, body))
    connection.insert_rows(
        "derived_events",
        ("tenant", "sequence", "event_id", "type", "occurred_at", "position", "data"),
        rows,
    )
    connection.executemany(
        "INSERT INTO key_versions (tenant, member_id, authorization_number, service_code, "
        "version) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant, member_id, authorization_number, service_code) DO UPDATE "
        "SET version = excluded.version",
        [(tenant, *key, versions[key]) for key in sorted(changed)],
    )
    return len(rows)
