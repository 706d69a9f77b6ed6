"""`benefit-ledger import`: NDJSON of events into one tenant's ledger, then its projections.

Each line is an event as `POST /v1/events` takes it (`{"id", "type", "data"}`). Lines go in
chunks of up to 1,000 events, each validated like the API (shape, then the rules against the
member's facts, including the chunk's earlier events) and recorded in one transaction: a chunk is
all or nothing. Ids already in the ledger are skipped as duplicates, so an import that stopped
(a crash, a refused line) is resumed by running the same command again. Chunks skip the
projection step; at the end, the members the import touched are replayed once and the tenant's
tracking moves to its head. An import emits no derived events: recording history is not news.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from contracts.events import MAX_BATCH_EVENTS
from services.ledger.append import Request, record_unprojected
from services.ledger.db import Database
from services.ledger.errors import LedgerError, Problem
from services.ledger.validation import validate_batch
from services.projections.core.facts import TENANT_WIDE_TYPES
from services.projections.core.member import MemberProjection
from services.projections.runner import members_of, recalculate_members

MAX_CACHED_MEMBERS = 20_000  # members whose facts stay in memory between chunks


@dataclass
class ImportResult:
    recorded: int = 0
    duplicates: int = 0
    members: set[str] = field(default_factory=set)
    tenant_wide: bool = False  # payer settings or schedules: every member is replayed
    corrected: int = 0


class ImportError_(LedgerError):
    """A line was refused; every chunk before it is recorded."""

    code = "import_refused"


def chunks(lines: Iterable[str]) -> Iterator[tuple[int, list[Any]]]:
    """(first line number, events) of up to MAX_BATCH_EVENTS non-blank lines each."""
    chunk: list[Any] = []
    first = 1
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if not chunk:
            first = number
        try:
            chunk.append((number, json.loads(line, parse_float=Decimal)))
        except ValueError as error:
            raise ImportError_(
                f"line {number} is not valid JSON; the lines before it are recorded",
                [Problem(None, f"line {number}", str(error))],
            ) from error
        if len(chunk) == MAX_BATCH_EVENTS:
            yield first, chunk
            chunk = []
    if chunk:
        yield first, chunk


def import_events(
    database: Database,
    tenant: str,
    lines: Iterable[str],
    on_chunk: Callable[[int], None] | None = None,
    on_replay: Callable[[int], None] | None = None,
    on_replay_start: Callable[[int], None] | None = None,
) -> ImportResult:
    """Record the lines' events as the tenant's, then rebuild the members they touched."""
    result = ImportResult()
    members: dict[str, MemberProjection] = {}
    connection = database.connect()
    try:
        for _, numbered in chunks(lines):
            numbers = [number for number, _ in numbered]
            try:
                candidates = validate_batch({"events": [event for _, event in numbered]})
            except LedgerError as error:
                raise _on_lines(error, numbers) from error
            request = Request(tenant, candidates, True, datetime.now(UTC))
            try:
                with connection.transaction(write=True):
                    outcomes, touched = record_unprojected(connection, request, members)
            except LedgerError as error:
                raise _on_lines(error, numbers) from error
            result.recorded += sum(1 for o in outcomes if o.status == "recorded")
            result.duplicates += sum(1 for o in outcomes if o.status == "duplicate")
            result.members |= touched
            result.tenant_wide |= any(c.type in TENANT_WIDE_TYPES for c in candidates)
            if len(members) > MAX_CACHED_MEMBERS:
                members.clear()
            if on_chunk is not None:
                on_chunk(len(numbered))
        if result.tenant_wide:  # a settings change reaches members the import never named
            result.members |= {member for _, member in members_of(connection, tenant)}
        if result.members:
            if on_replay_start is not None:
                on_replay_start(len(result.members))
            result.corrected = recalculate_members(
                connection, tenant, sorted(result.members), on_replay
            )
    finally:
        connection.close()
    return result


def _on_lines(error: LedgerError, numbers: list[int]) -> LedgerError:
    """The error with each problem's event index turned into its line of the file."""
    details = [
        Problem(
            None,
            f"line {numbers[d.index]}: {d.field}" if d.index is not None else d.field,
            d.problem,
        )
        for d in error.details
    ]
    return type(error)(
        f"{error.message} (lines {numbers[0]}-{numbers[-1]}); the lines before them are "
        "recorded: fix the file and run the same import again",
        details,
    )
