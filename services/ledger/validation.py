"""Shape validation of a batch: envelopes and event data against the contract's models."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ValidationError

from contracts.events import (
    EARLIEST_DATE,
    EVENT_TYPES,
    LATEST_DATE,
    MAX_BATCH_EVENTS,
    NOT_SUPPORTED_YET,
    AppendCondition,
    Strict,
)
from services.ledger.errors import (
    InvalidEventError,
    NotSupportedYetError,
    Problem,
    ProblemList,
)


@dataclass(frozen=True)
class CandidateEvent:
    """An event whose shape is valid: normalized data and the hash that detects a reused id."""

    index: int
    event_id: str
    type: str
    data: dict[str, Any]
    body_hash: str
    data_json: str  # the normalized data as stored: sorted keys, no spaces
    typed: dict[str, Any] = field(default_factory=dict)  # its dates and decimals, decoded once


MAX_JSON_DEPTH = 32  # an event's data nests a few levels (claims: lines in a claim)


def parse_body(raw: bytes) -> Any:
    """JSON with exact decimals: numbers never pass through binary floats."""
    try:
        body = json.loads(raw, parse_float=Decimal)
    except RecursionError as error:
        raise InvalidEventError(
            "the body nests too deeply", [Problem(None, "body", f"deeper than {MAX_JSON_DEPTH}")]
        ) from error
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidEventError(
            "the body is not valid JSON", [Problem(None, "body", f"malformed JSON: {error}")]
        ) from error
    if _depth_over(body, MAX_JSON_DEPTH):
        raise InvalidEventError(
            "the body nests too deeply", [Problem(None, "body", f"deeper than {MAX_JSON_DEPTH}")]
        )
    return body


def _depth_over(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def date_problem(name: str, day: date) -> Problem | None:
    """A date outside what the ledger represents, as a problem to answer 422 with."""
    if EARLIEST_DATE <= day <= LATEST_DATE:
        return None
    return Problem(None, name, f"{day.isoformat()} is outside {EARLIEST_DATE} to {LATEST_DATE}")


def _dates_out_of_range(value: Any, path: str) -> list[tuple[str, date]]:
    """Every date (not datetime) in a parsed model's fields, nested ones too, outside range."""
    found: list[tuple[str, date]] = []
    if isinstance(value, BaseModel):
        for name, item in value.__dict__.items():
            found += _dates_out_of_range(item, f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found += _dates_out_of_range(item, f"{path}.{index}")
    elif (
        isinstance(value, date)
        and not isinstance(value, datetime)
        and not EARLIEST_DATE <= value <= LATEST_DATE
    ):
        found.append((path, value))
    return found


def _field(prefix: str, loc: tuple[int | str, ...]) -> str:
    return ".".join([prefix, *(str(part) for part in loc)]) if loc else prefix


def _problems(index: int | None, prefix: str, error: ValidationError) -> list[Problem]:
    return [
        Problem(index, _field(prefix, tuple(item["loc"])), item["msg"]) for item in error.errors()
    ]


def canonical_json(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def body_hash(event_type: str, data_json: str) -> str:
    """SHA-256 of `{"data": ..., "type": ...}` in canonical JSON, from the data's canonical text
    (the same bytes as dumping the whole object with sorted keys, one encoding fewer)."""
    canonical = f'{{"data":{data_json},"type":{json.dumps(event_type)}}}'
    return hashlib.sha256(canonical.encode()).hexdigest()


def _envelopes(body: Any, problems: ProblemList) -> list[Any]:
    if not isinstance(body, dict):
        problems.add(None, "body", 'expected an object {"events": [...]}')
        return []
    extra = sorted(set(body) - {"events", "condition"})
    for name in extra:
        problems.add(None, name, "unknown field")
    events = body.get("events")
    if not isinstance(events, list):
        problems.add(None, "events", "required: a list of 1 to 1000 events")
        return []
    if not 1 <= len(events) <= MAX_BATCH_EVENTS:
        problems.add(None, "events", f"a batch holds 1 to {MAX_BATCH_EVENTS} events")
        return []
    return events


def _candidate(index: int, raw: Any, problems: ProblemList) -> CandidateEvent | None:
    if not isinstance(raw, dict):
        problems.add(index, "event", "expected an object with id, type and data")
        return None
    for name in sorted(set(raw) - {"id", "type", "data"}):
        problems.add(index, name, "unknown field")
    for name in ("id", "type", "data"):
        if name not in raw:
            problems.add(index, name, "required")
    event_type = raw.get("type")
    model: type[Strict] | None = (
        EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    )
    event_id = _event_id(index, raw.get("id"), problems) if "id" in raw else None
    if "type" in raw and not isinstance(event_type, str):
        problems.add(index, "type", "must be a string, one of the event types")
    elif "type" in raw and model is None and event_type not in NOT_SUPPORTED_YET:
        problems.add(index, "type", f"unknown event type {event_type!r}")
    data = raw.get("data")
    if "data" in raw and not isinstance(data, dict):
        problems.add(index, "data", "expected an object")
        return None
    if model is None or data is None or event_id is None or not isinstance(event_type, str):
        return None
    try:
        parsed = model.model_validate(data)
    except ValidationError as error:
        problems.problems.extend(_problems(index, "data", error))
        return None
    outside = _dates_out_of_range(parsed, "data")
    for name, day in outside:
        problems.add(index, name, f"{day.isoformat()} is outside {EARLIEST_DATE} to {LATEST_DATE}")
    if outside:
        return None
    normalized = parsed.model_dump(mode="json", exclude_none=True)
    data_json = canonical_json(normalized)
    typed = {
        name: value
        for name, value in parsed.__dict__.items()
        if isinstance(value, date | Decimal) and not isinstance(value, datetime)  # .day, .amount
    }
    return CandidateEvent(
        index, event_id, event_type, normalized, body_hash(event_type, data_json), data_json, typed
    )


def _event_id(index: int, value: Any, problems: ProblemList) -> str | None:
    if not isinstance(value, str):
        problems.add(index, "id", "must be a UUID chosen by the sender, as a string")
        return None
    try:
        return str(UUID(value))
    except ValueError:
        problems.add(index, "id", "must be a UUID chosen by the sender")
        return None


def validate_batch(body: Any) -> list[CandidateEvent]:
    """Every shape problem of the batch at once, or the normalized events."""
    problems = ProblemList()
    raw_events = _envelopes(body, problems)
    candidates = [_candidate(index, raw, problems) for index, raw in enumerate(raw_events)]
    unsupported = [
        (index, raw["type"])
        for index, raw in enumerate(raw_events)
        if isinstance(raw, dict)
        and isinstance(raw.get("type"), str)
        and raw["type"] in NOT_SUPPORTED_YET
    ]
    if unsupported and not problems.problems:
        raise NotSupportedYetError(
            "these event types are part of a later release",
            [Problem(index, "type", f"{kind} is not supported yet") for index, kind in unsupported],
        )
    for index, kind in unsupported:
        problems.add(index, "type", f"{kind} is not supported yet")
    problems.raise_if_any()
    accepted = [candidate for candidate in candidates if candidate is not None]
    if len(accepted) != len(raw_events):  # all or nothing, even if a check forgot to say why
        missing = [index for index, candidate in enumerate(candidates) if candidate is None]
        raise InvalidEventError(
            f"{len(missing)} problem(s) in the batch; nothing was recorded",
            [Problem(index, "event", "not a valid event") for index in missing],
        )
    return accepted


def validate_condition(body: Any) -> AppendCondition | None:
    """The batch's append condition, if it carries one (the batch itself is checked apart)."""
    if not isinstance(body, dict) or body.get("condition") is None:
        return None
    try:
        return AppendCondition.model_validate(body["condition"])
    except ValidationError as error:
        raise InvalidEventError(
            "the condition is not valid", _problems(None, "condition", error)
        ) from error
