"""The README's promise against a real `serve` process and the real command line."""

from __future__ import annotations

from datetime import date

import httpx

from services.ledger.demo import reduction, weekly_example
from tests.conftest import new_tenant
from tests.e2e.conftest import cli

DETAIL = "/v1/members/member-1/accumulations/AUTH-100/T1019"


def balances(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [period["balance"] for period in answer.json()["periods"]]


def test_tour_against_a_real_server(served: tuple[str, str]) -> None:
    base, database = served
    created = cli(
        "keys",
        "create",
        "--tenant",
        new_tenant(),
        "--roles",
        "writer,reader",
        "--database",
        database,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("bl_") and "\n" not in key
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        recorded = client.post("/v1/events", json={"events": weekly_example(date(2026, 10, 4))})
        assert recorded.status_code == 200, recorded.text
        before = recorded.json()["results"][-1]["recorded_at"]
        assert balances(client.get(DETAIL, params={"as_of": "2026-10-31"})) == ["2", "6", "4", "7"]

        amendment = reduction()
        assert client.post("/v1/events", json={"events": [amendment]}).status_code == 200
        after = client.get(DETAIL, params={"as_of": "2026-10-31"})
        assert balances(after) == ["-3", "-4", "-11", "-13"]
        assert after.json()["accumulated_units"] == "0"
        assert after.json()["negative_accrual"]["cause"] == "authorization_reduction"
        assert after.json()["negative_accrual"]["event_id"] == amendment["id"]

        known = client.get(DETAIL, params={"as_of": "2026-10-31", "known_at": before})
        assert balances(known) == ["2", "6", "4", "7"]

    rebuilt = cli("rebuild", "--database", database)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "corrected 0" in rebuilt.stdout


def test_demo_prints_the_tables() -> None:
    shown = cli("demo")
    assert shown.returncode == 0, shown.stderr
    for balance in ("2", "6", "4", "7", "-13"):
        assert f"│ {balance:>11} │" in shown.stdout
    assert "authorization_reduction" in shown.stdout


def test_help_and_bad_roles() -> None:
    assert "serve" in cli("--help").stdout
    refused = cli(
        "keys", "create", "--tenant", "t", "--roles", "king", "--database", "sqlite:///:memory:"
    )
    assert refused.returncode == 2
    assert "roles" in refused.stderr
