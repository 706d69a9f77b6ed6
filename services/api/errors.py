"""The one place where errors become HTTP answers in the contract's error shape."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.middleware import route_template
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
    return JSONResponse(body, status_code=status, headers=headers)


async def _ledger_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, LedgerError)
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
    app.add_exception_handler(Exception, _unexpected)
