"""Publishing derived events to a JetStream stream: subjects, messages, the stream, a pass.

Subjects are `<prefix>.<tenant>.<type>`, prefix `benefit-ledger` unless the environment variable
BENEFIT_LEDGER_RELAY_SUBJECT_PREFIX says otherwise (e.g. two environments on one NATS account).
The type keeps its dots, so a consumer filters on `benefit-ledger.<tenant>.balance.changed` or
`benefit-ledger.*.>`. A subject token may not hold `.`, `*`, `>` or whitespace, so the tenant's
token is the tenant with every character outside [A-Za-z0-9_-] replaced by `_`. Two tenants can
then share a token (`acme.eu` and `acme_eu` both become `acme_eu`); the payload carries the
real `tenant`, and a consumer of such a tenant must check it.

Delivery is at least once, in sequence order per tenant. Each publish waits for JetStream's ack
before the next one goes out, so a failed publish is never overtaken by a later event, and the
tenant's checkpoint advances after every acknowledged batch. A crash re-sends at most the last
batch: its `Nats-Msg-Id` header (the derived event's id) lets the stream's duplicate window drop
the copies. A consumer that must be exact beyond that window dedupes on `id`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamInfo

from services.api.relay.store import checkpoint, pending_tenants, save_checkpoint
from services.ledger.db import Connection
from services.ledger.leases import Lease, default_holder
from services.projections.feed import as_json, read_events

DEFAULT_PREFIX = "benefit-ledger"
PREFIX_ENV = "BENEFIT_LEDGER_RELAY_SUBJECT_PREFIX"
BATCH_SIZE = 100
# longer than any restart of a crashed relay, so the re-sent tail is recognised as duplicates
DUPLICATE_WINDOW_SECONDS = 600.0
PUBLISH_TIMEOUT_SECONDS = 5.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


# --- subjects and messages ---------------------------------------------------------------------


def subject_token(text: str) -> str:
    """`text` as one subject token: a `.` would split it, `*`/`>` widen it, spaces end it."""
    return _UNSAFE.sub("_", text) or "_"


def subject_for(prefix: str, tenant: str, event_type: str) -> str:
    """`<prefix>.<tenant token>.<type>`, the type's dots kept so consumers can filter on them."""
    kind = ".".join(subject_token(part) for part in event_type.split("."))
    return f"{prefix}.{subject_token(tenant)}.{kind}"


def message_body(tenant: str, item: dict[str, Any]) -> bytes:
    """The derived event as JSON plus its real tenant (the subject's token may be lossy)."""
    return json.dumps({**as_json(item), "tenant": tenant}, separators=(",", ":")).encode()


# --- the stream and one pass -------------------------------------------------------------------


class StreamMismatch(Exception):
    """The relay's subjects would go to no stream or to another one: every publish would fail."""


async def ensure_stream(
    js: JetStreamContext, name: str, prefix: str = DEFAULT_PREFIX
) -> StreamInfo:
    """The stream `name`, created for `<prefix>.>` if missing; an existing one is used as it is."""
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        info = await js.add_stream(
            name=name,
            subjects=[f"{prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
    try:
        owner: str | None = await js.find_stream_name_by_subject(f"{prefix}.relay-check")
    except nats.js.errors.NotFoundError:
        owner = None
    if owner != name:
        raise StreamMismatch(f"subjects {prefix}.> go to {owner or 'no stream'}, not to {name}")
    return info


@dataclass
class RelayStats:
    """What a pass did: events acknowledged, of them duplicates JetStream dropped, tenants."""

    published: int = 0
    duplicates: int = 0
    tenants: int = 0
    skipped: int = 0  # tenants another relay of the same name was publishing


@dataclass
class _Pass:
    connection: Connection
    js: JetStreamContext
    name: str
    holder: str
    prefix: str
    batch_size: int
    stop: asyncio.Event | None
    stats: RelayStats

    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    async def publish(self, tenant: str, item: dict[str, Any]) -> None:
        """Publish one event and wait for its ack: the next may only go out after this one."""
        ack = await self.js.publish(
            subject_for(self.prefix, tenant, item["type"]),
            message_body(tenant, item),
            timeout=PUBLISH_TIMEOUT_SECONDS,
            stream=self.name,
            headers={"Nats-Msg-Id": item["id"]},
        )
        self.stats.published += 1
        self.stats.duplicates += 1 if ack.duplicate else 0

    async def tenant(self, tenant: str) -> None:
        """The tenant's events past its checkpoint, in order, while holding its lease.

        A tenant whose lease another relay holds is left to it. The checkpoint is read after
        the lease is taken, so a relay that takes a tenant over starts where the last one
        stopped; each acknowledged batch is checkpointed, fenced on the lease.
        """
        lease = Lease(tenant, self.name, self.holder)
        if not lease.try_acquire(self.connection):
            self.stats.skipped += 1
            return
        try:
            self.stats.tenants += 1
            after = checkpoint(self.connection, tenant, self.name)
            while not self.stopping():
                items = read_events(self.connection, tenant, after, self.batch_size)
                for item in items:
                    await self.publish(tenant, item)
                if items:
                    after = int(items[-1]["sequence"])
                    save_checkpoint(self.connection, lease, after)
                if len(items) < self.batch_size:
                    return
        finally:
            lease.release(self.connection)


async def relay_pass(
    connection: Connection,
    js: JetStreamContext,
    *,
    name: str,
    prefix: str = DEFAULT_PREFIX,
    holder: str | None = None,
    tenants: Sequence[str] | None = None,
    batch_size: int = BATCH_SIZE,
    stop: asyncio.Event | None = None,
    stats: RelayStats | None = None,
) -> int:
    """Publish every tenant's derived events past its checkpoint to stream `name`.

    Returns how many JetStream acknowledged (re-sent duplicates included, see `stats`). `name`
    is the stream and also names the relay's checkpoints and leases, so relays feeding different
    streams keep separate positions. Relays of the same name share the tenants: each tenant is
    published under its lease by `holder` (default: a new one), and one held by another relay is
    skipped this pass (`stats.skipped`). Raises LeaseLost if this relay stalled past a lease and
    another took the tenant over. `tenants` limits the pass to some tenants (tests, backfills);
    `stop` ends it after the current batch.
    """
    run = _Pass(
        connection,
        js,
        name,
        holder or default_holder(),
        prefix,
        batch_size,
        stop,
        stats or RelayStats(),
    )
    before = run.stats.published
    for tenant, _ in pending_tenants(connection, name, tenants):
        if run.stopping():
            break
        await run.tenant(tenant)
    return run.stats.published - before
