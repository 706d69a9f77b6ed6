"""Pydantic models of the operations endpoints: recalculation, API keys, the ledger's pages
and the tenant's status (api.md: Keys, Operations, The ledger)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Role = Literal["writer", "reader", "subscriber", "supervisor", "admin"]


class RecalculateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"member_id": "M-1"}]}
    )

    member_id: str | None = Field(default=None, description="Only this member (default: all).")


class RecalculateOut(BaseModel):
    checked: int = Field(description="Members replayed from the ledger.")
    corrected: int = Field(description="Members whose read models differed and were corrected.")


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"roles": ["writer", "reader"], "name": "scheduling system"}]
        },
    )

    roles: list[Role] = Field(min_length=1, description="The new key's roles in this tenant.")
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="What the key is for, e.g. 'scheduling system'; shown in the key list.",
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the key stops working (with a UTC offset; in the future). "
        "Without it the key works until revoked.",
    )


class ApiKeyOut(BaseModel):
    key: str = Field(description="The secret, shown only in this answer: store it now.")
    key_id: str
    tenant: str
    roles: list[Role]
    name: str | None
    expires_at: datetime | None


class ApiKeyInfo(BaseModel):
    """A key as listed: everything but its secret."""

    key_id: str
    name: str | None
    roles: list[Role]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(
        description="The last request made with the key (noted at most once a minute)."
    )
    revoked_at: datetime | None
    status: Literal["active", "expired", "revoked"]


class ApiKeyList(BaseModel):
    items: list[ApiKeyInfo]


class LedgerEventOut(BaseModel):
    """One recorded fact as the ledger holds it, with what it concerns."""

    position: int = Field(description="The tenant's own ledger position, from 1, gap-free.")
    id: str
    type: str
    recorded_at: datetime
    tags: list[str] = Field(description="`member:M`, `payer:P`, `visit:V` and the like.")
    data: dict[str, Any]


class LedgerEventsPage(BaseModel):
    items: list[LedgerEventOut]
    next_after: int = Field(description="Pass as `after` for the next page.")
    position: int = Field(
        description="The tenant's last recorded position when the page was read: nothing after "
        "it is on the page; `next_after` below it means more events are there."
    )


class TenantStatusOut(BaseModel):
    """GET /v1/admin/status: the caller's tenant only (/readyz and /metrics show no tenant)."""

    tenant: str
    events: int = Field(description="The tenant's last position (positions are gap-free).")
    projected_position: int = Field(description="The last position its read models reflect.")
    lag: int = Field(description="events - projected_position")
    lag_oldest_age_seconds: float = Field(
        description="How long the first event not reflected yet has waited (0 when none)."
    )
    derived_events: int = Field(description="The tenant's last derived-event sequence.")
    relay_lag: dict[str, int] = Field(
        description="Per relay stream, the tenant's derived events not published yet."
    )
