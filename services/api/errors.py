"""The one place where errors become HTTP answers in the contract's error shape."""

from __future__ import annotations

import json
import logging
import sqlite3

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.middleware import route_template
from services.ledger.availability import ASYNCPG_UNAVAILABLE, database_unavailable
from services.ledger.errors import (
    ConcurrencyConflictError,
    ConditionFailedError,
    EventIdReusedError,
    ForbiddenError,
    InfrastructureError,
    InvalidEventError,
    InvalidRequestError,
    LedgerError,
    NotFoundError,
    NotSupportedYetError,
    Problem,
    UnauthenticatedError,
)

log = logging.getLogger("benefit_ledger.api")

STATUS = {
    InvalidEventError: 422,
    InvalidRequestError: 422,
    NotSupportedYetError: 422,
    EventIdReusedError: 409,
    ConditionFailedError: 409,
    ConcurrencyConflictError: 409,
    NotFoundError: 404,
    UnauthenticatedError: 401,
    ForbiddenError: 403,
    InfrastructureError: 503,
}
# an unavailable database: when to try again (Retry-After, seconds). Long enough not to hammer
# a database coming back, short against the few seconds a restart or failover takes
RETRY_AFTER_SECONDS = 5
# what the drivers raise when the database is out of reach (services/ledger/availability.py
# decides which of them really mean that; the others are bugs, answered 500)
DRIVER_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
    ConnectionError,
    *(error for error in ASYNCPG_UNAVAILABLE if issubclass(error, Exception)),
)


def error_response(status: int, code: str, message: str, details: list[Problem]) -> JSONResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": [
                {"index": d.index, "field": d.field, "problem": d.problem} for d in details
            ],
        }
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(body, status_code=status, headers=headers)


async def _ledger_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, LedgerError)
    if isinstance(error, InfrastructureError):
        return await _driver_error(request, error)
    status = STATUS.get(type(error), 400)
    response = error_response(status, error.code, error.message, error.details)
    if isinstance(error, ConditionFailedError):  # the client re-reads from here, then retries
        body = json.loads(bytes(response.body))
        for detail in body["error"]["details"]:
            detail["position"] = error.position
        response = JSONResponse(body, status_code=status)
    return response


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [
        Problem(None, ".".join(str(part) for part in item["loc"]), item["msg"])
        for item in error.errors()
    ]
    return error_response(422, "invalid_request", "the request is not valid", details)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
        error.status_code, "http_error"
    )
    return error_response(error.status_code, code, str(error.detail), [])


async def _driver_error(request: Request, error: Exception) -> JSONResponse:
    """The database out of reach (503, retry later); any other driver error is a bug (500).
    The driver's words (hosts, ports, database names) go to the log, not to the client."""
    if not database_unavailable(error):
        return await _unexpected(request, error)
    log.warning(
        "the database is unavailable on %s %s: %s: %s",
        request.method,
        route_template(request.scope),
        type(error).__name__,
        str(error).strip(),
    )
    return unavailable_response()


def unavailable_response() -> JSONResponse:
    return error_response(
        503, InfrastructureError.code, "the database is unavailable; retry later", []
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # this runs outside the request's logging context: the middleware left the id in the scope
    request_id = getattr(request.state, "request_id", None)
    route = route_template(request.scope)  # the raw path may name a member
    log.exception(
        "unexpected error on %s %s", request.method, route, extra={"request_id": request_id}
    )
    response = error_response(500, "internal_error", "an unexpected error; it was logged", [])
    if request_id is not None:
        response.headers["X-Request-Id"] = request_id
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for driver_error in DRIVER_ERRORS:
        app.add_exception_handler(driver_error, _driver_error)
    app.add_exception_handler(Exception, _unexpected)
