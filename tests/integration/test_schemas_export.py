"""The JSON Schemas of the events in contracts/schemas/ are the models' own, and the command
that writes them works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.events import EVENT_TYPES
from services.api.cli import main
from services.api.schemas_export import DEFAULT_DIRECTORY, schema_text

FIX = "the committed schemas drifted from the models: run `benefit-ledger schemas export`"


def test_the_committed_schemas_are_the_models() -> None:
    committed = {path.name for path in DEFAULT_DIRECTORY.glob("*.json")}
    assert committed == {f"{event_type}.json" for event_type in EVENT_TYPES}, FIX
    for event_type in EVENT_TYPES:
        text = (DEFAULT_DIRECTORY / f"{event_type}.json").read_text(encoding="utf-8")
        assert text == schema_text(event_type), f"{event_type}: {FIX}"


def test_schemas_export_writes_one_file_per_event_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schemas", "export", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == len(EVENT_TYPES)
    schema = json.loads((tmp_path / "out" / "visit.scheduled.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["type"]["const"] == "visit.scheduled"
    assert schema["properties"]["data"] == {"$ref": "#/$defs/VisitScheduled"}
    units = schema["$defs"]["VisitScheduled"]["properties"]["units"]
    assert (units["type"], units["pattern"]) == ("string", r"^\d{1,12}(\.\d{1,6})?$")


def test_an_exported_schema_accepts_the_examples_and_refuses_a_wrong_type() -> None:
    from jsonschema import Draft202012Validator

    for event_type in EVENT_TYPES:
        schema = json.loads(schema_text(event_type))
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema)
        for example in schema["examples"]:
            validator.validate(example)
        assert not validator.is_valid({**schema["examples"][0], "type": "visit.unknown"})
