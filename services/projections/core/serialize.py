"""Read-model rows from a member projection and back (pure: JSON text in, objects out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import orjson

from services.projections.core.accumulation import Allocation, KeyResult, PeriodResult
from services.projections.core.facts import KeyId
from services.projections.core.member import Flag, MemberProjection


@dataclass(frozen=True)
class MemberRows:
    """Everything the read model stores for one member; rebuild must reproduce it exactly."""

    member_id: str
    position: int
    flags: str
    keys: tuple[tuple[str, str, int, str], ...]  # number, service code, accumulates, body
    visits: tuple[tuple[str, str], ...]  # visit id, body


def _dumps(value: Any) -> str:
    # orjson: the same compact, key-sorted text as json.dumps for these bodies, several times
    # faster (a rebuild writes one body per key and per visit)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


PERIOD_FIELDS = (
    "start",
    "end",
    "authorized",
    "used",
    "from_regular",
    "from_accumulation",
    "unauthorized",
    "balance",
)


def _period(period: PeriodResult) -> list[str]:
    """A period as a row of PERIOD_FIELDS: a two-year weekly key is ~100 of them, kept compact."""
    start, end, *amounts = period
    return [start.isoformat(), end.isoformat(), *map(str, amounts)]


def _flag(flag: Flag | None) -> dict[str, Any] | None:
    if flag is None:
        return None
    return {"cause": flag.cause, "event_id": flag.event_id, "position": flag.position}


def key_body(result: KeyResult, flag: Flag | None) -> dict[str, Any]:
    return {
        "authorization_number": result.key[0],
        "service_code": result.key[1],
        "payer_id": result.payer_id,
        "frequency": result.frequency,
        "span": {"start": result.span_start.isoformat(), "end": result.span_end.isoformat()},
        "accumulates": result.accumulates,
        "periods": [_period(period) for period in result.periods],
        "flag": _flag(flag),
        # a pool's codes only: a plain key's rows stay as the previous release wrote them
        **({"service_codes": list(result.service_codes)} if _pooled(result) else {}),
    }


def _pooled(result: KeyResult) -> bool:
    return bool(result.service_codes) and result.service_codes != (result.key[1],)


def _period_from_row(row: list[str] | dict[str, str]) -> PeriodResult:
    if isinstance(row, dict):  # the first release stored periods as objects
        row = [row[name] for name in PERIOD_FIELDS]
    start, end, *amounts = row
    return PeriodResult(
        date.fromisoformat(start), date.fromisoformat(end), *(Decimal(a) for a in amounts)
    )


def key_from_body(body: dict[str, Any]) -> tuple[KeyResult, Flag | None]:
    periods = tuple(_period_from_row(row) for row in body["periods"])
    result = KeyResult(
        key=(body["authorization_number"], body["service_code"]),
        payer_id=body["payer_id"],
        frequency=body["frequency"],
        span_start=date.fromisoformat(body["span"]["start"]),
        span_end=date.fromisoformat(body["span"]["end"]),
        accumulates=body["accumulates"],
        periods=periods,
        visits={},
        service_codes=tuple(body.get("service_codes", [body["service_code"]])),
    )
    flag = body["flag"]
    return result, Flag(**flag) if flag else None


def _allocation(allocation: Allocation) -> dict[str, str | None]:
    # `reason` only where there is one (the answer shows null otherwise): the rows of the
    # previous release stay what a rebuild writes
    return {
        "regular": str(allocation.regular),
        "accumulated": str(allocation.accumulated),
        "unauthorized": str(allocation.unauthorized),
        **({"reason": allocation.reason} if allocation.reason is not None else {}),
    }


def visit_body(projection: MemberProjection, visit_id: str) -> dict[str, Any]:
    """The contract's visit answer."""
    visit = projection.facts.visits[visit_id]
    key: KeyId | None = projection.matches.get(visit_id)
    return {
        "visit_id": visit.visit_id,
        "member_id": visit.member_id,
        "payer_id": visit.payer_id,
        "service_code": visit.service_code,
        "status": visit.status,
        "service_date": visit.service_date.isoformat(),
        "units": str(visit.units),
        "key": None if key is None else {"authorization_number": key[0], "service_code": key[1]},
        "unauthorized": key is None,
        "allocation": _allocation(projection.allocation(visit_id)),
        "override": visit.override,
        "not_eligible": not projection.facts.eligible(visit),
        # only for a billed or a clocked visit (the answer shows false or null otherwise): the
        # rows of the previous release stay what a rebuild writes
        **(
            {
                "billed": True,
                "claim_reference": visit.billed.claim_reference,
            }
            if visit.billed is not None
            else {}
        ),
        **(
            {"clock_in": visit.clock_in, "clock_out": visit.clock_out}
            if visit.clock_in is not None
            else {}
        ),
    }


def visit_bodies(projection: MemberProjection) -> dict[str, dict[str, Any]]:
    """The contract's visit answer for every visit of the member."""
    return {visit_id: visit_body(projection, visit_id) for visit_id in projection.facts.visits}


def _key_row(projection: MemberProjection, key: KeyId) -> tuple[str, str, int, str]:
    result = projection.key_result(key)
    body = _dumps(key_body(result, projection.flags.get(key)))
    return (key[0], key[1], int(result.accumulates), body)


def _flags_text(projection: MemberProjection) -> str:
    return _dumps(sorted([[key[0], key[1], _flag(flag)] for key, flag in projection.flags.items()]))


def member_rows(projection: MemberProjection) -> MemberRows:
    """Every row of the member: what rebuild writes and what the stored rows must equal."""
    keys = tuple(_key_row(projection, key) for key in projection.facts.key_ids())
    visits = tuple(
        (visit_id, _dumps(visit_body(projection, visit_id)))
        for visit_id in sorted(projection.facts.visits)
    )
    return MemberRows(
        projection.facts.member_id,
        projection.member_position,
        _flags_text(projection),
        keys,
        visits,
    )


def changed_rows(projection: MemberProjection) -> MemberRows:
    """Only the rows the events stepped since the last call changed (the incremental path)."""
    keys = tuple(_key_row(projection, key) for key in sorted(projection.changed_keys))
    visits = tuple(
        (visit_id, _dumps(visit_body(projection, visit_id)))
        for visit_id in sorted(projection.changed_visits)
    )
    projection.clear_changes()
    return MemberRows(
        projection.facts.member_id,
        projection.member_position,
        _flags_text(projection),
        keys,
        visits,
    )


def flags_from_json(text: str) -> dict[KeyId, Flag]:
    return {(number, code): Flag(**flag) for number, code, flag in orjson.loads(text)}
