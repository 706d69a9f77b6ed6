"""The guide's tour against a real `serve` process (SQLite and PostgreSQL) and the real command
line: `keys create`, `rebuild`, `demo`. Decimals arrive as JSON strings and are compared as
`Decimal`, so "7" and "7.0" are the same balance."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from services.ledger.demo import reduction, weekly_example
from tests.conftest import new_tenant
from tests.e2e.conftest import Server, cli

FIRST_SUNDAY = date(2026, 10, 4)
DETAIL = "/v1/members/member-1/accumulations/AUTH-100/T1019"
AS_OF = {"as_of": "2026-10-31"}  # the Saturday that ends week 4


def decimals(values: list[str]) -> list[Decimal]:
    return [Decimal(value) for value in values]


def detail(client: httpx.Client, **params: str) -> dict[str, Any]:
    answer = client.get(DETAIL, params={**AS_OF, **params})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def balances(body: dict[str, Any]) -> list[Decimal]:
    return decimals([period["balance"] for period in body["periods"]])


def test_tour_against_a_real_server(server: Server) -> None:
    tenant = new_tenant()
    created = cli(
        "keys",
        "create",
        "--tenant",
        tenant,
        "--roles",
        "writer,reader",
        "--database",
        server.database,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key and created.stdout == key + "\n", "keys create prints the key alone"

    events = weekly_example(FIRST_SUNDAY)
    last_visit = [e for e in events if e["type"] == "visit.confirmed"][-1]
    amendment = reduction()
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        recorded = client.post("/v1/events", json={"events": events})
        assert recorded.status_code == 200, recorded.text
        results = recorded.json()["results"]
        assert [r["status"] for r in results] == ["recorded"] * len(events)
        known_at = next(r["recorded_at"] for r in results if r["id"] == last_visit["id"])

        before = detail(client)
        assert balances(before) == decimals(["2", "6", "4", "7"])
        assert Decimal(before["accumulated_units"]) == Decimal(7)
        assert before["negative_accrual"] is None

        reduced = client.post("/v1/events", json={"events": [amendment]})
        assert reduced.status_code == 200, reduced.text
        assert reduced.json()["results"][0]["status"] == "recorded"

        after = detail(client)
        assert balances(after) == decimals(["-3", "-4", "-11", "-13"])
        assert Decimal(after["accumulated_units"]) == 0
        assert Decimal(after["raw_balance"]) == Decimal(-13)
        negative = after["negative_accrual"]
        assert negative["cause"] == "authorization_reduction"
        assert negative["event_id"] == amendment["id"]
        assert Decimal(negative["overuse"]) == Decimal(13)
        assert negative["period_start"] == FIRST_SUNDAY.isoformat()

        # as known when the last visit was recorded: before the reduction
        known = detail(client, known_at=known_at)
        assert balances(known) == decimals(["2", "6", "4", "7"])
        assert Decimal(known["accumulated_units"]) == Decimal(7)
        assert known["negative_accrual"] is None

        without_key = httpx.get(f"{server.base_url}{DETAIL}", params=AS_OF, timeout=30)
        assert without_key.status_code == 401

    rebuilt = cli("rebuild", "--database", server.database)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "read models were up to date (0 corrected)" in rebuilt.stdout, rebuilt.stdout
    checked = re.search(r"(\d+) members? replayed", rebuilt.stdout)
    assert checked and int(checked[1]) >= 1, rebuilt.stdout


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the tables `demo` prints (box drawing or ASCII borders)."""
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃|]", line)[1:-1]]
        if cells and cells[0].isdigit():
            rows.append(cells)
    return rows


def test_demo_prints_the_guides_table_and_the_reduction() -> None:
    shown = cli("demo")
    assert shown.returncode == 0, shown.stderr
    rows = table_rows(shown.stdout)
    assert [row[0] for row in rows] == ["1", "2", "3", "4"] * 2, shown.stdout
    _week, authorized, used, raw, accumulated = (decimals(list(c)) for c in zip(*rows, strict=True))
    assert authorized == decimals(["10"] * 4 + ["5"] * 4)
    assert used == decimals(["8", "6", "12", "7"] * 2)
    assert raw == decimals(["2", "6", "4", "7", "-3", "-4", "-11", "-13"])
    assert accumulated == decimals(["2", "6", "4", "7", "0", "0", "0", "0"])
    assert "authorization_reduction" in shown.stdout


def test_help_and_bad_roles() -> None:
    shown = cli("--help")
    assert shown.returncode == 0
    for command in ("serve", "keys", "rebuild", "demo"):
        assert command in shown.stdout
    refused = cli(
        "keys", "create", "--tenant", "t", "--roles", "king", "--database", "sqlite:///:memory:"
    )
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "roles" in refused.stderr
