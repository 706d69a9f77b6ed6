"""API keys: created for a tenant with roles, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.ledger.db import Database
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


def create_key(
    database: Database, tenant: str, roles: Sequence[str], now: datetime
) -> tuple[str, str]:
    """A new key for the tenant; returns (key, key_id). The key itself is never stored."""
    if not TENANT_PATTERN.match(tenant):
        raise InvalidRequestError(
            "tenant must be 1-64 letters, digits, '.', '_' or '-'",
            [Problem(None, "tenant", "invalid tenant name")],
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = uuid.uuid4().hex[:16]
    connection = database.connect()
    try:
        with connection.transaction():
            connection.execute(
                "INSERT INTO api_keys (key_id, tenant, key_hash, roles, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (key_id, tenant, hash_key(key), ",".join(roles), now.isoformat()),
            )
    finally:
        connection.close()
    return key, key_id
