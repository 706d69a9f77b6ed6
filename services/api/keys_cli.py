"""`benefit-ledger keys create|list|revoke`: a tenant's API keys from the shell."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from services.api.settings import DATABASE_HELP, database_url


def add_key_commands(commands: Any) -> None:
    """The `keys` command and its actions, on the root parser's subcommands."""
    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="create an API key; prints only the key")
    create.add_argument("--tenant", required=True, help="the tenant the key belongs to")
    create.add_argument(
        "--roles",
        required=True,
        help="comma-separated roles: writer, reader, subscriber, supervisor, admin",
    )
    create.add_argument("--name", help="what the key is for, shown by `keys list`")
    create.add_argument(
        "--expires-at",
        metavar="MOMENT",
        help="when the key stops working (ISO 8601, e.g. 2027-01-01T00:00:00Z; default: never)",
    )
    create.add_argument("--database", help=DATABASE_HELP)
    create.set_defaults(run=_keys_create)
    listing = key_commands.add_parser(
        "list", help="list a tenant's keys with their name, roles, expiry, last use and status"
    )
    listing.add_argument("--tenant", required=True, help="the tenant whose keys to list")
    listing.add_argument("--database", help=DATABASE_HELP)
    listing.set_defaults(run=_keys_list)
    revoke = key_commands.add_parser(
        "revoke", help="revoke a key at once (every serve process refuses it from then on)"
    )
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id, from `keys list`")
    revoke.add_argument("--tenant", required=True, help="the tenant the key belongs to")
    revoke.add_argument("--database", help=DATABASE_HELP)
    revoke.set_defaults(run=_keys_revoke)


def _keys_create(args: argparse.Namespace) -> int:
    from services.ledger.db import Database
    from services.ledger.keys import create_key, parse_roles

    database = Database(database_url(args.database))
    database.migrate()
    expires_at = _aware(args.expires_at, "--expires-at") if args.expires_at else None
    key, _ = create_key(
        database,
        args.tenant,
        parse_roles(args.roles),
        datetime.now(UTC),
        name=args.name,
        expires_at=expires_at,
    )
    print(key)
    return 0


def _aware(text: str, option: str) -> datetime:
    """An ISO 8601 moment; without an offset it is taken as UTC."""
    from services.ledger.errors import InvalidRequestError, Problem

    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidRequestError(
            f"{option} must be an ISO 8601 date and time", [Problem(None, option, str(error))]
        ) from error
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _keys_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from services.ledger.db import Database
    from services.ledger.keys import list_keys

    database = Database(database_url(args.database))
    database.migrate()
    connection = database.connect()
    try:
        records = list_keys(connection, args.tenant)
    finally:
        connection.close()
    now = datetime.now(UTC)
    table = Table("key id", "name", "roles", "created", "expires", "last used", "status")
    for record in records:
        table.add_row(
            record.key_id,
            record.name or "",
            ",".join(record.roles),
            record.created_at,
            record.expires_at or "never",
            record.last_used_at or "never",
            record.status(now),
        )
    if not records:
        print(f"tenant {args.tenant!r} has no API keys")
        return 0
    Console(width=160).print(table)
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from services.ledger.db import Database
    from services.ledger.keys import revoke_key

    database = Database(database_url(args.database))
    database.migrate()
    connection = database.connect()
    try:
        record = revoke_key(connection, args.tenant, args.key_id, datetime.now(UTC))
    finally:
        connection.close()
    if record is None:
        print(
            f"benefit-ledger: tenant {args.tenant!r} has no API key {args.key_id!r}",
            file=sys.stderr,
        )
        return 1
    print(f"revoked API key {record.key_id} of tenant {args.tenant} at {record.revoked_at}")
    return 0
