"""Pydantic models of the webhook endpoints (api.md, Subscriptions: webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# the retry schedule an endpoint gets unless it asks for another: the first retry after about 5 s,
# doubling up to 5 min between attempts, paused after 20 failed attempts (about 70 minutes)
DEFAULT_INITIAL_SECONDS = 5
DEFAULT_MAX_SECONDS = 300
DEFAULT_MAX_ATTEMPTS = 20
# the bounds a schedule may ask for
INITIAL_SECONDS_LIMIT = 3600
MAX_SECONDS_LIMIT = 86400
MAX_ATTEMPTS_LIMIT = 100
# how long a rotated-out secret may go on signing
OVERLAP_SECONDS_LIMIT = 7 * 86400

# whole numbers only (strict: no "5", 5.0 or true)
InitialSeconds = Annotated[int, Field(ge=1, le=INITIAL_SECONDS_LIMIT, strict=True)]
MaxSeconds = Annotated[int, Field(ge=1, le=MAX_SECONDS_LIMIT, strict=True)]
MaxAttempts = Annotated[int, Field(ge=1, le=MAX_ATTEMPTS_LIMIT, strict=True)]
OverlapSeconds = Annotated[int, Field(ge=0, le=OVERLAP_SECONDS_LIMIT, strict=True)]


class RetryIn(BaseModel):
    """An endpoint's retry schedule: the n-th retry waits `initial_seconds` * 2^(n-1), at most
    `max_seconds`, less up to a fifth (jitter); after `max_attempts` failed attempts at one event
    the endpoint is paused."""

    model_config = ConfigDict(extra="forbid")

    initial_seconds: InitialSeconds = DEFAULT_INITIAL_SECONDS
    max_seconds: MaxSeconds = DEFAULT_MAX_SECONDS
    max_attempts: MaxAttempts = DEFAULT_MAX_ATTEMPTS

    @model_validator(mode="after")
    def _initial_within_max(self) -> RetryIn:
        if self.initial_seconds > self.max_seconds:
            raise ValueError("initial_seconds may not exceed max_seconds")
        return self


class RetryChange(BaseModel):
    """`retry` in `PATCH /v1/webhooks/{webhook_id}`: the fields given replace the endpoint's."""

    model_config = ConfigDict(extra="forbid")

    initial_seconds: InitialSeconds | None = None
    max_seconds: MaxSeconds | None = None
    max_attempts: MaxAttempts | None = None


class RetryOut(BaseModel):
    initial_seconds: int
    max_seconds: int
    max_attempts: int


class WebhookIn(BaseModel):
    """`POST /v1/webhooks`. No types (or an empty list) means every derived event type."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://billing.example.com/hooks/ledger", "types": ["balance.changed"]},
                {
                    "url": "https://billing.example.com/hooks/ledger",
                    "retry": {"initial_seconds": 10, "max_seconds": 600, "max_attempts": 30},
                },
            ]
        },
    )

    url: str = Field(
        min_length=1, max_length=2048, description="http(s) to a public address; POSTed to."
    )
    types: list[str] | None = Field(
        default=None, max_length=50, description="Derived event types to send (default: all)."
    )
    retry: RetryIn = Field(
        default_factory=RetryIn,
        description="When a failed delivery is tried again, and how often before pausing.",
    )


class WebhookPatch(BaseModel):
    """`PATCH /v1/webhooks/{webhook_id}`: `status` `paused` stops deliveries, `active` resumes
    them at the event where they stopped; `retry` changes the schedule."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"status": "active"}, {"retry": {"max_attempts": 30}}]},
    )

    status: Literal["active", "paused"] | None = Field(
        default=None, description="`active` resumes where delivery stopped; `paused` stops it."
    )
    retry: RetryChange | None = Field(
        default=None, description="The parts of the retry schedule to change."
    )


class DeliveryStatus(BaseModel):
    """How delivery to an endpoint is going. `pending`: events of its types not yet delivered
    (counted up to 10000); `next_attempt_at`: when the oldest of them is tried next (None when
    nothing is pending or the endpoint is not active; in the past: as soon as a worker can)."""

    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    pending: int
    next_attempt_at: datetime | None


class WebhookOut(BaseModel):
    """An endpoint as listed; its secret is shown only once, when it is created or rotated."""

    id: str
    url: str
    types: list[str]
    status: Literal["active", "paused", "disabled"]
    status_reason: str | None
    created_at: datetime
    retry: RetryOut
    delivery: DeliveryStatus
    previous_secret_expires_at: datetime | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_ and base64: the Standard Webhooks signing secret")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class RotateIn(BaseModel):
    """`POST /v1/webhooks/{webhook_id}/rotate-secret`: how long the old secret goes on signing
    beside the new one (default: the service's setting, 24 h)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"overlap_seconds": 3600}]}
    )

    overlap_seconds: OverlapSeconds | None = Field(
        default=None, description="Seconds the old secret goes on signing; 0: not at all."
    )


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="the new whsec_ secret, shown only this once")
    previous_secret_expires_at: datetime | None


class DeliveryOut(BaseModel):
    """One delivery attempt. `outcome`: `succeeded` (2xx), `retrying` (another attempt at
    `next_attempt_at`), `failed` (no automatic attempt follows: retries exhausted and the endpoint
    paused, the endpoint answered 410 and was disabled, or a manual redelivery failed)."""

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
