"""The `benefit-ledger` command: serve, keys, webhooks, import, rebuild, tick, relay, demo,
export, reconcile."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from services.api import ledger_cli
from services.api.command_output import tick_summary
from services.api.interop_cli import add_interop_commands
from services.api.keys_cli import add_key_commands
from services.api.settings import DATABASE_HELP, database_url
from services.api.webhooks_cli import add_webhook_commands
from services.ledger.errors import LedgerError

# commands that may start a new SQLite ledger; every other command with --database needs one
MAY_CREATE_LEDGER = frozenset({"serve", "import"})


def _database_url(value: str | None) -> str:
    return database_url(value)


def _configure_logs(args: argparse.Namespace, default_format: str) -> None:
    """Logging for the commands that run workers (serve, relay, tick): see docs/operations.md."""
    from services.api.logs import configure_logging, log_format_from

    try:
        log_format = log_format_from(args.log_format, default_format)
    except ValueError as error:
        raise SystemExit(f"benefit-ledger: {error}") from error
    configure_logging(log_format, getattr(args, "log_level", "info"))


def _add_log_format(command: argparse.ArgumentParser, default_format: str) -> None:
    command.add_argument(
        "--log-format",
        choices=["json", "text"],
        help=f"log lines as JSON objects or text (default: BENEFIT_LEDGER_LOG_FORMAT, "
        f"else {default_format})",
    )


def _missing_ledger(args: argparse.Namespace) -> str | None:
    """Why the command may not run: its SQLite file does not exist (a typo in the path would
    otherwise create an empty ledger and, say, a key nobody's server knows). None when it may."""
    from services.ledger.db import sqlite_path

    if not hasattr(args, "database") or args.command in MAY_CREATE_LEDGER:
        return None
    url = _database_url(args.database)
    if not url.startswith("sqlite:"):
        return None
    path = sqlite_path(url)
    if path in ("", ":memory:") or Path(path).exists():
        return None
    return (
        f"benefit-ledger: no ledger at {Path(path).resolve()} ({url}): check the path; "
        "`benefit-ledger serve` or `import` creates a new one"
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from services.api.app import create_app
    from services.api.settings import Settings
    from services.api.tracing import setup_tracing

    _configure_logs(args, "json")
    settings = Settings(database_url=_database_url(args.database))
    # the writer threads hold the interpreter for CPU-bound projection steps; handing it over
    # every millisecond instead of every 5 keeps queries answering under write load
    sys.setswitchinterval(0.001)
    if args.no_workers:
        settings.delivery_workers = False
    app = create_app(settings)
    setup_tracing(app)
    # logging as configured above; the access log is the app's (route templates, not paths)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=None,
        access_log=False,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from services.ledger.db import Database
    from services.ledger.demo import reduction, weekly_example
    from services.ledger.group_commit import Ledger
    from services.ledger.reader import member_events
    from services.ledger.validation import validate_batch
    from services.projections.core.views import key_view
    from services.projections.inline import InlineProjector
    from services.projections.runner import replay

    first_sunday = date.fromisoformat(args.first_sunday)
    with tempfile.TemporaryDirectory() as directory:
        database = Database(f"sqlite:///{Path(directory) / 'demo.db'}")
        database.migrate()
        ledger = Ledger(database, InlineProjector())
        console = Console()
        for title, events in (
            ("The weekly example (docs/rules.md 2.5)", weekly_example(first_sunday)),
            ("After the retroactive reduction from 10 to 5 units", [reduction()]),
        ):
            ledger.append(
                "demo", validate_batch({"events": events}), may_override=True, now=datetime.now(UTC)
            )
            connection = database.connect()
            projection = replay("member-1", member_events(connection, "demo", "member-1"))
            connection.close()
            key = ("AUTH-100", "T1019")
            view = key_view(
                projection.result.keys[key],
                projection.flags.get(key),
                first_sunday + timedelta(days=27),
            )
            table = Table(title=title)
            for column in ("week", "authorized", "used", "raw balance", "accumulated shown"):
                table.add_column(column, justify="right")
            for number, period in enumerate(view.periods, start=1):
                table.add_row(
                    str(number),
                    str(period.authorized),
                    str(period.used),
                    str(period.balance),
                    str(max(period.balance, 0)),
                )
            console.print(table)
            if view.negative_accrual:
                negative = view.negative_accrual
                console.print(f"negative accrual: overuse {negative.overuse}, {negative.cause}")
    return 0


def _tick(args: argparse.Namespace) -> int:
    import logging

    from services.api.logs import say
    from services.ledger.db import Database
    from services.projections.tick import tick

    _configure_logs(args, "text")
    database = Database(_database_url(args.database))
    database.migrate()
    today = date.fromisoformat(args.date) if args.date else None
    say(logging.getLogger("benefit_ledger.tick"), tick_summary(tick(database, today)))
    return 0


def _relay(args: argparse.Namespace) -> int:
    from services.api.relay.command import run_relay

    _configure_logs(args, "text")
    return run_relay(
        _database_url(args.database),
        args.nats,
        stream=args.stream,
        once=args.once,
        poll_interval=args.poll_interval,
    )


def parser() -> argparse.ArgumentParser:
    from services.api.version import package_version

    root = argparse.ArgumentParser(
        prog="benefit-ledger",
        description="An event-sourced ledger of insurance benefit usage.",
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--database", help=DATABASE_HELP)
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    _add_log_format(serve, "json")
    serve.add_argument(
        "--no-workers",
        action="store_true",
        help="do not run the webhook delivery worker and the period tick in this process",
    )
    serve.set_defaults(run=_serve)

    add_key_commands(commands)
    add_webhook_commands(commands)

    rebuild = commands.add_parser(
        "rebuild", help="rebuild the projections from the ledger and report what changed"
    )
    rebuild.add_argument("--database", help=DATABASE_HELP)
    rebuild.add_argument("--tenant", help="only this tenant (default: all)")
    rebuild.add_argument(
        "--from-scratch",
        action="store_true",
        help="empty the read models (of --tenant, or all) first",
    )
    rebuild.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes replaying members side by side (default: one per core on PostgreSQL, "
        "1 on SQLite)",
    )
    rebuild.set_defaults(run=ledger_cli.rebuild)

    bulk = commands.add_parser(
        "import",
        help="record events from an NDJSON file (one event per line, as POST /v1/events takes "
        "them) for one tenant; rerun the same command to resume",
    )
    bulk.add_argument("file", metavar="FILE", help="the NDJSON file, or - for standard input")
    bulk.add_argument("--tenant", required=True, help="the tenant the events belong to")
    bulk.add_argument("--database", help=DATABASE_HELP)
    bulk.set_defaults(run=ledger_cli.import_file)

    tick = commands.add_parser(
        "tick",
        help="emit balance.changed for every active key whose new period has started, and "
        "authorization.renewal_due for keys near their end (idempotent: for cron or a timer)",
    )
    tick.add_argument("--database", help=DATABASE_HELP)
    tick.add_argument(
        "--date",
        help="the day to tick for, for every tenant (YYYY-MM-DD; default each tenant's today in "
        "its time zone)",
    )
    _add_log_format(tick, "text")
    tick.set_defaults(run=_tick)

    relay = commands.add_parser(
        "relay", help="publish derived events to NATS JetStream, resuming from its checkpoint"
    )
    relay.add_argument("--database", help=DATABASE_HELP)
    relay.add_argument(
        "--nats", default="nats://127.0.0.1:4222", help="NATS server URL (default %(default)s)"
    )
    relay.add_argument(
        "--stream",
        default="BENEFIT_LEDGER",
        help="JetStream stream for subjects benefit-ledger.> (created if missing; "
        "default %(default)s)",
    )
    relay.add_argument("--once", action="store_true", help="publish what is there, then exit")
    relay.add_argument(
        "--poll-interval",
        type=float,
        default=0.5,
        help="seconds between looks for new events (default %(default)s)",
    )
    _add_log_format(relay, "text")
    relay.set_defaults(run=_relay)

    demo = commands.add_parser(
        "demo",
        help="load the weekly example of docs/rules.md into a fresh store and print its table",
    )
    demo.add_argument(
        "--first-sunday", default="2026-10-04", help="the Sunday week 1 starts on (YYYY-MM-DD)"
    )
    demo.set_defaults(run=_demo)

    add_interop_commands(commands)

    schemas = commands.add_parser("schemas", help="the JSON Schemas of the events")
    schema_commands = schemas.add_subparsers(
        dest="schemas_command", required=True, metavar="ACTION"
    )
    export = schema_commands.add_parser("export", help="write one JSON Schema file per event type")
    export.add_argument("--out", help="the directory (default: contracts/schemas of this package)")
    export.set_defaults(run=_schemas_export)
    return root


def _schemas_export(args: argparse.Namespace) -> int:
    from services.api.schemas_export import main as export_main

    return export_main(["--out", args.out] if args.out else [])


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    missing = _missing_ledger(args)
    if missing is not None:
        print(missing, file=sys.stderr)
        return 2
    try:
        code: int = args.run(args)
    except LedgerError as error:
        print(f"benefit-ledger: {error.message}", file=sys.stderr)
        for detail in error.details:
            print(f"  {detail.field}: {detail.problem}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
