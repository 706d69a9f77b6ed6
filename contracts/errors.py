"""The one shape of every error answer (api.md, "Errors")."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    """One precise reason the request was refused."""

    index: int | None = Field(
        default=None, description="The event's index in the batch; null for the request itself."
    )
    field: str = Field(description="Where: `data.units`, `events`, `as_of`, `body` and the like.")
    problem: str
    position: int | None = Field(
        default=None,
        description="`condition_failed` only: the tenant's current ledger position, to read "
        "from and retry.",
    )


class ErrorBody(BaseModel):
    code: str = Field(
        description="What failed, for programs: invalid_event, invalid_request, "
        "not_supported_yet, event_id_reused, condition_failed, concurrency_conflict, "
        "not_found, method_not_allowed, unauthenticated, forbidden, unavailable, "
        "internal_error."
    )
    message: str = Field(description="What failed, for people.")
    details: list[ErrorDetail] = Field(default=[], description="Every problem found, at once.")


class ErrorOut(BaseModel):
    """Every error answer has this shape (api.md)."""

    error: ErrorBody
