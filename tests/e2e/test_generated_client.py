"""The OpenAPI document drives an integration: a Python client generated from a running
`serve`'s /openapi.json by openapi-python-client (a dev dependency) records the weekly example,
typed event by event through the document's union, and reads the key's balance back."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from services.ledger.demo import weekly_example
from tests.e2e.processes import serving_a_tenant

GENERATOR = Path(sys.executable).parent / "openapi-python-client"


def _generate(base_url: str, into: Path) -> Any:
    document = into / "openapi.json"
    document.write_bytes(httpx.get(f"{base_url}/openapi.json", timeout=10).content)
    done = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(document), "--meta", "none",
         "--output-path", str(into / "ledger_client")],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout, done.stdout  # every schema and response generated
    sys.path.insert(0, str(into))
    return importlib.import_module("ledger_client")


def test_a_generated_client_records_visits_and_reads_a_balance(tmp_path: Path) -> None:
    assert shutil.which(str(GENERATOR)), "openapi-python-client is in the dev extra"
    with serving_a_tenant(tmp_path) as running:
        serve, key = running.serve, running.key
        package = _generate(serve.base_url, tmp_path)
        record = importlib.import_module("ledger_client.api.events.record_events_v1_events_post")
        detail = importlib.import_module(
            "ledger_client.api.accumulations."
            "accumulation_detail_v1_members_member_id_accumulations_authorization_number_"
            "service_code_get"
        )
        models = importlib.import_module("ledger_client.models")
        client = package.AuthenticatedClient(base_url=serve.base_url, token=key)
        events = [dict(e, id=str(uuid.uuid4())) for e in weekly_example(date(2026, 10, 4))]
        batch = models.EventBatch.from_dict({"events": events})
        assert {type(event).__name__ for event in batch.events} >= {
            "PayerSettingsChangedEvent",
            "AuthorizationGrantedEvent",
            "VisitConfirmedEvent",
        }

        recorded = record.sync(client=client, body=batch)

        assert isinstance(recorded, models.EventsResponse), recorded
        assert [result.status for result in recorded.results] == ["recorded"] * len(events)
        balance = detail.sync("member-1", "AUTH-100", "T1019", client=client, as_of="2026-10-31")
        assert isinstance(balance, models.AccumulationDetail), balance
        assert (balance.raw_balance, balance.accumulated_units) == ("7", "7")
        assert [period.used for period in balance.periods] == ["8", "6", "12", "7"]
