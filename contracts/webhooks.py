"""Pydantic models of the webhook endpoints (api.md, Subscriptions: webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WebhookIn(BaseModel):
    """`POST /v1/webhooks`. No types (or an empty list) means every derived event type."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://billing.example.com/hooks/ledger", "types": ["balance.changed"]}
            ]
        },
    )

    url: str = Field(
        min_length=1, max_length=2048, description="http(s) to a public address; POSTed to."
    )
    types: list[str] | None = Field(
        default=None, max_length=50, description="Derived event types to send (default: all)."
    )


class WebhookOut(BaseModel):
    """An endpoint as listed; its secret is shown only once, when it is created."""

    id: str
    url: str
    types: list[str]
    status: Literal["active", "disabled"]
    status_reason: str | None
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_ and base64: the Standard Webhooks signing secret")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    """One delivery attempt. `outcome`: `succeeded` (2xx), `retrying` (another attempt at
    `next_attempt_at`), `failed` (no automatic attempt follows: retries exhausted, the endpoint
    answered 410 and was disabled, or a manual redelivery failed)."""

    sequence: int
    event_id: str
    attempt: int
    manual: bool
    attempted_at: datetime
    status_code: int | None
    error: str | None
    outcome: Literal["succeeded", "retrying", "failed"]
    next_attempt_at: datetime | None


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


class RedeliveryOut(BaseModel):
    webhook_id: str
    sequence: int
    status: Literal["queued"]
