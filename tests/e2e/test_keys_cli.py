"""`keys create|list|revoke` as an operator runs them, against a running `serve`."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Server, cli


def test_an_operator_names_lists_and_revokes_a_key_while_serve_runs(server: Server) -> None:
    created = cli(
        "keys", "create", "--tenant", "clinic-k", "--roles", "reader", "--name", "billing export",
        "--expires-at", "2099-01-01T00:00:00Z", "--database", server.database,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{server.base_url}/v1/ledger/events", headers=auth).status_code == 200

    listed = cli("keys", "list", "--tenant", "clinic-k", "--database", server.database)

    assert listed.returncode == 0, listed.stderr
    assert "billing export" in listed.stdout and "2099-01-01" in listed.stdout
    assert "active" in listed.stdout and key not in listed.stdout
    key_id = next(
        line.split()[1] for line in listed.stdout.splitlines() if "billing export" in line
    )

    revoked = cli("keys", "revoke", key_id, "--tenant", "clinic-k", "--database", server.database)

    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked API key {key_id}" in revoked.stdout
    refused = httpx.get(f"{server.base_url}/v1/ledger/events", headers=auth)
    assert refused.status_code == 401
    assert (
        "revoked"
        in cli("keys", "list", "--tenant", "clinic-k", "--database", server.database).stdout
    )
    unknown = cli("keys", "revoke", "nope", "--tenant", "clinic-k", "--database", server.database)
    assert unknown.returncode == 1
    assert "has no API key 'nope'" in unknown.stderr
