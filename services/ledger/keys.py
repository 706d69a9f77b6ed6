"""API keys: created for a tenant with roles, stored only as a SHA-256 hash.

A key may have a name (what it is for) and an expiry; revoking it stamps `revoked_at`. The row
is looked up on every request (no cache), so a revoked or expired key answers 401 at once in
every process. `last_used_at` is written at most once a minute per key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ledger.codec import format_timestamp
from services.ledger.db import Connection, Database
from services.ledger.errors import InvalidRequestError, Problem

ROLES = ("writer", "reader", "subscriber", "supervisor", "admin")
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KEY_PREFIX = "bl_"


@dataclass(frozen=True)
class Principal:
    tenant: str
    roles: frozenset[str]
    key_id: str

    def has(self, role: str) -> bool:
        """`admin` holds every role within its tenant."""
        return role in self.roles or "admin" in self.roles


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_roles(text: str) -> list[str]:
    roles = [role.strip() for role in text.split(",") if role.strip()]
    unknown = [role for role in roles if role not in ROLES]
    if not roles or unknown:
        raise InvalidRequestError(
            f"roles must be a comma-separated subset of {', '.join(ROLES)}",
            [Problem(None, "roles", f"unknown role {role!r}") for role in unknown],
        )
    return roles


@dataclass(frozen=True)
class KeyRecord:
    """What may be shown of a key: everything but its secret."""

    key_id: str
    tenant: str
    name: str | None
    roles: tuple[str, ...]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= format_timestamp(now):
            return "expired"
        return "active"

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "roles": list(self.roles),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
            "status": self.status(now),
        }


KEY_COLUMNS = "key_id, tenant, name, roles, created_at, expires_at, revoked_at, last_used_at"


def key_record(row: Sequence[Any]) -> KeyRecord:
    key_id, tenant, name, roles, created_at, expires_at, revoked_at, last_used_at = row
    return KeyRecord(
        key_id,
        tenant,
        name,
        tuple(roles.split(",")),
        created_at,
        expires_at,
        revoked_at,
        last_used_at,
    )


def create_key(
    database: Database,
    tenant: str,
    roles: Sequence[str],
    now: datetime,
    *,
    name: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, str]:
    """A new key for the tenant; returns (key, key_id). The key itself is never stored."""
    if not TENANT_PATTERN.match(tenant):
        raise InvalidRequestError(
            "tenant must be 1-64 letters, digits, '.', '_' or '-'",
            [Problem(None, "tenant", "invalid tenant name")],
        )
    if expires_at is not None and expires_at <= now:
        raise InvalidRequestError(
            "expires_at must be in the future",
            [Problem(None, "expires_at", f"{expires_at.isoformat()} has passed")],
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = uuid.uuid4().hex[:16]
    connection = database.connect()
    try:
        with connection.transaction():
            connection.execute(
                "INSERT INTO api_keys (key_id, tenant, key_hash, roles, created_at, name, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key_id,
                    tenant,
                    hash_key(key),
                    ",".join(roles),
                    format_timestamp(now),
                    name,
                    format_timestamp(expires_at) if expires_at is not None else None,
                ),
            )
    finally:
        connection.close()
    return key, key_id


def list_keys(connection: Connection, tenant: str) -> list[KeyRecord]:
    """The tenant's keys, oldest first, revoked and expired ones included."""
    rows = connection.execute(
        f"SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant = ? ORDER BY created_at, key_id",
        (tenant,),
    )
    return [key_record(row) for row in rows]


def revoke_key(connection: Connection, tenant: str, key_id: str, now: datetime) -> KeyRecord | None:
    """Revoke the tenant's key at once (again: no change); None if the tenant has no such key."""
    with connection.transaction():
        connection.execute(
            "UPDATE api_keys SET revoked_at = ? "
            "WHERE tenant = ? AND key_id = ? AND revoked_at IS NULL",
            (format_timestamp(now), tenant, key_id),
        )
        rows = connection.execute(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant = ? AND key_id = ?",
            (tenant, key_id),
        )
    return key_record(rows[0]) if rows else None


def mark_used(connection: Connection, key_id: str, now: datetime) -> None:
    connection.execute(
        "UPDATE api_keys SET last_used_at = ? WHERE key_id = ?", (format_timestamp(now), key_id)
    )


STREAM_TOKEN_PREFIX = "st1"


def _stream_signature(key_hash: str, key_id: str, expires: int) -> str:
    digest = hmac.new(
        key_hash.encode(), f"{STREAM_TOKEN_PREFIX}.{key_id}.{expires}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def stream_token(key_hash: str, key_id: str, expires: int) -> str:
    """A token for the event stream only, for clients that cannot send headers (a browser's
    EventSource): the key's id, an expiry (Unix seconds) and an HMAC keyed by the key's stored
    hash. Nothing is stored: it is checked against the key's row, so revoking the key ends it."""
    return (
        f"{STREAM_TOKEN_PREFIX}.{key_id}.{expires}.{_stream_signature(key_hash, key_id, expires)}"
    )


def parse_stream_token(token: str) -> tuple[str, int, str] | None:
    """(key_id, expires, signature) of a well-formed token, else None."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != STREAM_TOKEN_PREFIX or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2]), parts[3]


def stream_token_valid(key_hash: str, key_id: str, expires: int, signature: str) -> bool:
    return hmac.compare_digest(_stream_signature(key_hash, key_id, expires), signature)
