"""Read-model rows from a member projection and back (pure: JSON text in, objects out)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from services.projections.accumulation import Allocation, KeyResult, PeriodResult
from services.projections.facts import KeyId
from services.projections.member import Flag, MemberProjection


@dataclass(frozen=True)
class MemberRows:
    """Everything the read model stores for one member; rebuild must reproduce it exactly."""

    member_id: str
    position: int
    flags: str
    keys: tuple[tuple[str, str, int, str], ...]  # number, service code, accumulates, body
    visits: tuple[tuple[str, str], ...]  # visit id, body


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _period(period: PeriodResult) -> dict[str, str]:
    return {
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "authorized": str(period.authorized),
        "used": str(period.used),
        "from_regular": str(period.from_regular),
        "from_accumulation": str(period.from_accumulation),
        "unauthorized": str(period.unauthorized),
        "balance": str(period.balance),
    }


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
    }


def key_from_body(body: dict[str, Any]) -> tuple[KeyResult, Flag | None]:
    periods = tuple(
        PeriodResult(
            date.fromisoformat(p["start"]),
            date.fromisoformat(p["end"]),
            *(
                Decimal(p[name])
                for name in (
                    "authorized",
                    "used",
                    "from_regular",
                    "from_accumulation",
                    "unauthorized",
                    "balance",
                )
            ),
        )
        for p in body["periods"]
    )
    result = KeyResult(
        key=(body["authorization_number"], body["service_code"]),
        payer_id=body["payer_id"],
        frequency=body["frequency"],
        span_start=date.fromisoformat(body["span"]["start"]),
        span_end=date.fromisoformat(body["span"]["end"]),
        accumulates=body["accumulates"],
        periods=periods,
        visits={},
    )
    flag = body["flag"]
    return result, Flag(**flag) if flag else None


def _allocation(allocation: Allocation) -> dict[str, str]:
    return {
        "regular": str(allocation.regular),
        "accumulated": str(allocation.accumulated),
        "unauthorized": str(allocation.unauthorized),
    }


def visit_bodies(projection: MemberProjection) -> dict[str, dict[str, Any]]:
    """The contract's visit answer for every visit of the member."""
    result = projection.result
    bodies: dict[str, dict[str, Any]] = {}
    for visit in projection.facts.visits.values():
        key: KeyId | None = result.matches.get(visit.visit_id)
        if key is not None:
            allocation = result.keys[key].visits.get(visit.visit_id, Allocation())
        else:
            allocation = result.unmatched.get(visit.visit_id, Allocation())
        bodies[visit.visit_id] = {
            "visit_id": visit.visit_id,
            "member_id": visit.member_id,
            "payer_id": visit.payer_id,
            "service_code": visit.service_code,
            "status": visit.status,
            "service_date": visit.service_date.isoformat(),
            "units": str(visit.units),
            "key": None
            if key is None
            else {"authorization_number": key[0], "service_code": key[1]},
            "unauthorized": key is None,
            "allocation": _allocation(allocation),
            "override": visit.override,
        }
    return bodies


def member_rows(projection: MemberProjection) -> MemberRows:
    result = projection.result
    keys = tuple(
        (
            key[0],
            key[1],
            int(key_result.accumulates),
            _dumps(key_body(key_result, projection.flags.get(key))),
        )
        for key, key_result in sorted(result.keys.items())
    )
    visits = tuple(
        (visit_id, _dumps(body)) for visit_id, body in sorted(visit_bodies(projection).items())
    )
    flags = _dumps(
        sorted([[key[0], key[1], _flag(flag)] for key, flag in projection.flags.items()])
    )
    return MemberRows(projection.facts.member_id, projection.member_position, flags, keys, visits)


def flags_from_json(text: str) -> dict[KeyId, Flag]:
    return {(number, code): Flag(**flag) for number, code, flag in json.loads(text)}
