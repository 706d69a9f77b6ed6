"""`benefit-ledger webhooks reset-secrets`: the way back when the secret key is lost.

Webhook signing secrets are stored encrypted under the operator's key (`secret_box`), and
`serve` refuses to start when one cannot be decrypted. If that key is gone for good, the stored
secrets are too: this command gives every endpoint whose secret the current key cannot open a
new one, pauses it (its receiver would refuse deliveries signed with a secret it does not know
yet), and prints the new secrets once, for the operator to hand to each receiver before resuming
the endpoint (`PATCH /v1/webhooks/{id}` with `{"status": "active"}`). Events wait behind the
paused endpoint's cursor meanwhile: nothing is lost. Endpoints the key still opens are left as
they are, so running it twice changes nothing more.
"""

from __future__ import annotations

import argparse
from typing import Any

from services.api.settings import DATABASE_HELP, database_url

RESET_REASON = "secret reset (key lost): give the receiver its new secret, then resume"


def add_webhook_commands(commands: Any) -> None:
    """The `webhooks` command and its actions, on the root parser's subcommands."""
    webhooks = commands.add_parser("webhooks", help="operate webhook endpoints")
    actions = webhooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    reset = actions.add_parser(
        "reset-secrets",
        help="new secrets for the endpoints whose stored secret the current key cannot decrypt "
        "(a lost BENEFIT_LEDGER_SECRET_KEY or key file); pauses them and prints the new secrets",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    reset.add_argument("--tenant", help="only this tenant's endpoints (default: every tenant)")
    reset.add_argument("--database", help=DATABASE_HELP)
    reset.set_defaults(run=_reset_secrets)


def _reset_secrets(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from services.api.settings import Settings
    from services.api.webhooks.secret_box import reset_unreadable_secrets, secret_box
    from services.ledger.db import Database

    settings = Settings(database_url=database_url(args.database))
    database = Database(settings.database_url)
    database.migrate()
    reset = reset_unreadable_secrets(database, secret_box(settings), args.tenant, RESET_REASON)
    if not reset:
        print("every stored webhook secret decrypts with the current key: nothing to reset")
        return 0
    table = Table("tenant", "webhook id", "url", "new secret (shown once)")
    for endpoint in reset:
        table.add_row(endpoint.tenant, endpoint.webhook_id, endpoint.url, endpoint.secret)
    Console(width=200).print(table)
    print(
        f"{len(reset)} endpoint(s) paused with a new secret: give each receiver its secret, "
        'then resume it (PATCH /v1/webhooks/ID {"status": "active"})'
    )
    return 0
