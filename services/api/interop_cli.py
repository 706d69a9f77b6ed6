"""`benefit-ledger export x12-271|fhir` and `benefit-ledger reconcile`: the payers' formats for
files, through the same queries and pure builders as the HTTP API."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from services.api.settings import DATABASE_HELP, database_url


def add_interop_commands(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="write a member's benefits and accumulators as an X12 271 or a FHIR "
        "CoverageEligibilityResponse to standard output",
    )
    export.add_argument("format", choices=["x12-271", "fhir"], help="x12-271 or fhir")
    export.add_argument("--member", required=True, help="the member id")
    export.add_argument("--tenant", required=True, help="the tenant the member belongs to")
    export.add_argument(
        "--as-of", help="the date of the balances (YYYY-MM-DD; default today in UTC)"
    )
    export.add_argument("--database", help=DATABASE_HELP)
    export.set_defaults(run=export_command)

    reconcile = commands.add_parser(
        "reconcile",
        help="compare a payer's X12 271 or FHIR CoverageEligibilityResponse file with the "
        "ledger and print the differences and the proposed benefit.usage_verified events",
    )
    reconcile.add_argument("file", metavar="FILE", help="the report (.271/.x12 or .json)")
    reconcile.add_argument("--member", required=True, help="the member the report is about")
    reconcile.add_argument("--tenant", required=True, help="the tenant the member belongs to")
    reconcile.add_argument(
        "--record",
        action="store_true",
        help="record the proposed events (idempotent: the same report twice records nothing)",
    )
    reconcile.add_argument("--database", help=DATABASE_HELP)
    reconcile.set_defaults(run=reconcile_command)


def export_command(args: argparse.Namespace) -> int:
    from services.interop.fhir_cer import build_response, fhir_json
    from services.interop.queries import snapshot
    from services.interop.x12_build import build_271
    from services.ledger.db import Database
    from services.projections.reads import make_reader

    database = Database(database_url(args.database))
    now = datetime.now(UTC)
    try:
        day = date.fromisoformat(args.as_of) if args.as_of else now.date()
    except ValueError as error:
        raise SystemExit(f"benefit-ledger: --as-of must be a date YYYY-MM-DD: {error}") from error

    async def run() -> Any:
        reader = make_reader(database, 1)
        try:
            return await snapshot(reader, args.tenant, args.member, day, None, now)
        finally:
            await reader.close()

    found = asyncio.run(run())
    if args.format == "x12-271":
        sys.stdout.write(build_271(found))
    else:
        sys.stdout.write(fhir_json(build_response(found)).decode() + "\n")
    return 0


def reconcile_command(args: argparse.Namespace) -> int:
    from contracts.interop import ReconcileOut
    from services.interop.queries import reconciliation, record
    from services.ledger.db import Database
    from services.ledger.group_commit import Ledger
    from services.projections.inline import InlineProjector
    from services.projections.reads import make_reader

    body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    content_type = "application/json" if body.lstrip()[:1] == b"{" else "text/plain"
    database = Database(database_url(args.database))

    async def run() -> dict[str, Any]:
        reader = make_reader(database, 1)
        try:
            return await reconciliation(reader, args.tenant, args.member, body, content_type)
        finally:
            await reader.close()

    answer = asyncio.run(run())
    if args.record and answer["proposed_events"]:
        ledger = Ledger(database, InlineProjector())
        answer["recorded"] = record(
            ledger, args.tenant, answer["proposed_events"], datetime.now(UTC)
        )
    shown = ReconcileOut.model_validate(answer).model_dump(mode="json")
    print(json.dumps(shown, indent=2))
    return 0
