"""Writes the JSON Schema of every event type, one file each (`visit.scheduled.json`).

The files in contracts/schemas/ are generated from the contract's models and committed, so a
client can validate events without Python; a test fails when they drift from the models
(`benefit-ledger schemas export` writes them again).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import contracts
from contracts.envelopes import ENVELOPES

DEFAULT_DIRECTORY = Path(contracts.__file__).parent / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema of one event, `{id, type, data}`, its data's models under `$defs`."""
    schema = ENVELOPES[event_type].model_json_schema()
    return {"$schema": DIALECT, **schema}


def schema_text(event_type: str) -> str:
    """The file's exact text: stable key order and a final newline, so a diff shows a change."""
    return json.dumps(event_schema(event_type), indent=2, ensure_ascii=False) + "\n"


def export_schemas(directory: Path | None = None) -> list[Path]:
    """Write `<type>.json` for every event type into `directory` (default: contracts/schemas);
    answers the files written, in the order of the event types."""
    target = Path(directory) if directory is not None else DEFAULT_DIRECTORY
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in ENVELOPES:
        path = target / f"{event_type}.json"
        path.write_text(schema_text(event_type), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benefit-ledger schemas export",
        description="Write the JSON Schema of every event type, one file per type.",
    )
    parser.add_argument("--out", help=f"the directory (default {DEFAULT_DIRECTORY})")
    args = parser.parse_args(argv)
    for path in export_schemas(Path(args.out) if args.out else None):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
