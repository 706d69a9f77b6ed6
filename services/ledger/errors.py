"""The ledger's errors: one root, one class per failure a client can act on."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One precise reason an input was refused: which event, which field, what is wrong."""

    index: int | None
    field: str
    problem: str


class LedgerError(Exception):
    """Root of every error the service maps to an HTTP answer."""

    code = "ledger_error"

    def __init__(self, message: str, details: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidEventError(LedgerError):
    code = "invalid_event"


class NotSupportedYetError(LedgerError):
    code = "not_supported_yet"


class EventIdReusedError(LedgerError):
    code = "event_id_reused"


class InvalidRequestError(LedgerError):
    code = "invalid_request"


class NotFoundError(LedgerError):
    code = "not_found"


class UnauthenticatedError(LedgerError):
    code = "unauthenticated"


class ForbiddenError(LedgerError):
    code = "forbidden"


class ConcurrencyConflictError(LedgerError):
    code = "concurrency_conflict"


class ConditionFailedError(LedgerError):
    """An event matching the batch's append condition was recorded after its position."""

    code = "condition_failed"

    def __init__(self, message: str, position: int, details: list[Problem] | None = None):
        super().__init__(message, details)
        self.position = position


class InfrastructureError(LedgerError):
    code = "unavailable"


@dataclass
class ProblemList:
    """Collects problems while a batch is checked; raises them all at once."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, index: int | None, field_name: str, problem: str) -> None:
        self.problems.append(Problem(index, field_name, problem))

    def raise_if_any(self) -> None:
        if self.problems:
            count = len(self.problems)
            raise InvalidEventError(
                f"{count} problem{'s' if count > 1 else ''} in the batch; nothing was recorded",
                self.problems,
            )
