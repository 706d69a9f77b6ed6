"""Request dependencies: the service context, the caller's identity and role checks."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from fastapi import Depends, Request

from services.ledger.append import Ledger
from services.ledger.db import Database
from services.ledger.errors import (
    ForbiddenError,
    InvalidRequestError,
    Problem,
    UnauthenticatedError,
)
from services.ledger.keys import Principal, hash_key
from services.projections.reads import Reader


@dataclass
class Context:
    """What every request shares: the database, the writer, the async reader and counters."""

    database: Database
    ledger: Ledger
    reader: Reader
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount


def context(request: Request) -> Context:
    found: Context = request.app.state.context
    return found


async def principal(request: Request, ctx: Context = Depends(context)) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise UnauthenticatedError("send Authorization: Bearer <api key>")
    rows = await ctx.reader.fetch(
        "SELECT tenant, roles, key_id FROM api_keys WHERE key_hash = ?", (hash_key(key.strip()),)
    )
    if not rows:
        raise UnauthenticatedError("unknown API key")
    tenant, roles, key_id = rows[0]
    return Principal(tenant, frozenset(roles.split(",")), key_id)


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    async def check(caller: Principal = Depends(principal)) -> Principal:
        if not caller.has(role):
            raise ForbiddenError(f"this needs the {role} role")
        return caller

    return check


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_as_of(value: str | None) -> date:
    if value is None:
        return utc_now().date()
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidRequestError(
            "as_of must be a date YYYY-MM-DD", [Problem(None, "as_of", str(error))]
        ) from error


def parse_known_at(value: str | None) -> datetime | None:
    """A known_at timestamp (RFC 3339); without a zone it is taken as UTC."""
    if value is None:
        return None
    try:
        # a '+' in an unencoded query string arrives as a space
        text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", value.strip()).replace("Z", "+00:00")
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidRequestError(
            "known_at must be an RFC 3339 timestamp", [Problem(None, "known_at", str(error))]
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
