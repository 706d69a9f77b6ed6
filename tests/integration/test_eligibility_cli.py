"""`benefit-ledger export` and `reconcile` on a SQLite ledger file: the same answers as the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import x12

from services.api.cli import main
from services.ledger.db import Database
from services.ledger.group_commit import Ledger
from services.ledger.validation import validate_batch
from services.projections.inline import InlineProjector
from tests.integration.test_eligibility_exports import AS_OF, PAYER_PT, facts, payer_271


def test_export_and_reconcile_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    database = Database(url)
    database.migrate()
    Ledger(database, InlineProjector()).append(
        "clinic", validate_batch({"events": facts("m-1")}), may_override=False,
        now=datetime.now(UTC),
    )  # fmt: skip
    base = ["--member", "m-1", "--tenant", "clinic", "--database", url]

    assert main(["export", "x12-271", "--as-of", AS_OF, *base]) == 0
    document = x12.tokenize_x12(capsys.readouterr().out.encode())
    x12.parse_x12_interchange(document)
    used = [s for s in document.find_segments("EB") if s.element(5) == b"ben-pt"]
    assert [s.element(10) for s in used] == [b"30", b"12", b"18"]

    assert main(["export", "fhir", "--as-of", AS_OF, *base]) == 0
    resource = json.loads(capsys.readouterr().out, parse_float=Decimal)
    assert resource["resourceType"] == "CoverageEligibilityResponse"

    report = tmp_path / "payer.271"
    report.write_text(payer_271("m-1", *PAYER_PT))
    assert main(["reconcile", str(report), *base]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["items"][0]["difference"] == "2" and dry["recorded"] == []
    assert main(["reconcile", str(report), "--record", *base]) == 0
    assert [r["status"] for r in json.loads(capsys.readouterr().out)["recorded"]] == ["recorded"]
    assert main(["reconcile", str(report), "--record", *base]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["items"][0]["difference"] == "0" and again["recorded"] == []
