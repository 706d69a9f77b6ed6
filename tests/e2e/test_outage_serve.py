"""A real `serve` process through a database outage (PostgreSQL): answered 503 with Retry-After
while the database is unreachable, never 500, readiness says why, the process stays up, and the
same requests succeed once the database is back, without a restart."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx

from services.ledger.demo import weekly_example
from tests.conftest import database_outage
from tests.e2e.processes import fresh_postgres_database, make_keys, serving

TENANT = "outage"
ACCUMULATION = "/v1/members/member-1/accumulations/AUTH-100/T1019"


def visit(visit_id: str) -> dict[str, object]:
    return {
        "id": f"00000000-0000-4000-8000-{visit_id.rjust(12, '0')}",
        "type": "visit.scheduled",
        "data": {
            "visit_id": f"visit-late-{visit_id}",
            "member_id": "member-1",
            "payer_id": "payer-1",
            "service_code": "T1019",
            "service_date": "2026-10-21",
            "units": "1",
        },
    }


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"].isdigit()
    assert answer.json()["error"]["code"] == "unavailable"


def test_serve_answers_503_through_an_outage_and_recovers_without_a_restart(
    postgres_server_url: str, tmp_path: Path
):
    with fresh_postgres_database(postgres_server_url) as url:
        key = make_keys(url, [TENANT])[TENANT]
        headers = {"Authorization": f"Bearer {key}"}
        with serving(url, tmp_path) as (server,):
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
                history = {"events": weekly_example(date(2026, 10, 4))}
                seeded = client.post("/v1/events", json=history)
                assert seeded.status_code == 200, seeded.text
                assert client.get(ACCUMULATION).status_code == 200

                with database_outage(postgres_server_url, url):
                    assert_unavailable(client.get(ACCUMULATION))
                    assert_unavailable(client.post("/v1/events", json={"events": [visit("1")]}))
                    assert_unavailable(client.get("/v1/ledger/events"))
                    ready = client.get("/readyz")
                    assert (ready.status_code, ready.json()["reason"]) == (
                        503,
                        "database unreachable",
                    )
                    assert client.get("/healthz").status_code == 200
                    metrics = client.get("/metrics")
                    assert "benefit_ledger_database_up 0.0" in metrics.text

                assert client.get(ACCUMULATION).status_code == 200
                recorded = client.post("/v1/events", json={"events": [visit("2")]})
                assert recorded.status_code == 200, recorded.text
                assert client.get("/readyz").json() == {"status": "ready"}
            assert server.process is not None and server.process.poll() is None
            assert "unexpected error" not in server.log_text()
