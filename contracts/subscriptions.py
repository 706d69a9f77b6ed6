"""Pydantic models of derived events and the feed (api.md, Subscriptions)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.accumulation_answers import NegativeAccrualOut
from contracts.decimals import UnitsString


class KeyOut(BaseModel):
    member_id: str
    authorization_number: str
    service_code: str


class BalanceOut(BaseModel):
    raw_balance: UnitsString
    accumulated_units: UnitsString


class BalanceChanged(BaseModel):
    """`balance.changed`: one per key per recorded event that changes a period balance, and one
    per key and period at the period rollover (`reason` `period_started`, no cause event)."""

    key: KeyOut
    key_version: int
    previous: BalanceOut
    current: BalanceOut
    first_affected_period: date | None
    negative_accrual: NegativeAccrualOut | None
    cause_event_id: str | None
    position: int
    as_of: date
    reason: Literal["event", "period_started"]


class NegativeAccrualFlagged(BaseModel):
    """`accumulation.negative_accrual_flagged`: a key's raw balance first went negative."""

    key: KeyOut
    cause: Literal[
        "authorization_reduction", "service_code_removed", "backdated_confirmation", "overuse"
    ]
    cause_event_id: str
    position: int
    period_start: date
    overuse: UnitsString


class DerivedEvent(BaseModel):
    """An event the service derived (balance.changed and the alerts), in the tenant's feed."""

    sequence: int = Field(description="Gap-free and strictly increasing per tenant.")
    id: str
    type: str
    occurred_at: datetime
    data: dict[str, Any]


class FeedPage(BaseModel):
    items: list[DerivedEvent]
    next_after: int = Field(description="Pass as `after` for the next page.")


class StreamTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"expires_in": 600}]})

    expires_in: int = Field(
        default=600, ge=10, le=3600, description="Seconds the token can open the stream."
    )


class StreamTokenOut(BaseModel):
    token: str = Field(description="Pass as ?token= to GET /v1/feeds/events/stream.")
    expires_at: datetime
