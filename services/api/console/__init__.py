"""The auditor and front-desk console at /console/: server-rendered pages over the same queries
as the API, signed in with a reader's API key (a session cookie), no asset from another host.

It is a FastAPI application of its own, mounted on the service: its pages are HTML, its errors
are pages, and it adds no operation to the API's OpenAPI document.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.console import auth, pages, reports
from services.api.console.render import SECURITY_HEADERS, link, page
from services.api.deps import Context
from services.api.errors import RETRY_AFTER_SECONDS, STATUS
from services.ledger.errors import InfrastructureError, LedgerError

PREFIX = "/console"


def _problem_page(
    request: Request, status_code: int, title: str, message: str, details: list[Any] | None = None
) -> HTMLResponse:
    signed_in = getattr(request.state, "viewer", None)
    values = {"who": signed_in} if signed_in is not None else {}
    # a page of a member that failed (a key that does not accumulate, a bad date): its member
    member = request.scope.get("path_params", {}).get("member_id")
    return page(
        request,
        "problem.html",
        status_code,
        title=title,
        message=message,
        details=details or [],
        member_id=member if status_code != 404 or "/keys/" in request.url.path else None,
        **values,
    )


async def _sign_in_required(request: Request, error: Exception) -> Response:
    assert isinstance(error, auth.SignInRequired)
    target = link(request, "/sign-in", next=error.next_path)
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


async def _csrf_refused(request: Request, _error: Exception) -> Response:
    return _problem_page(
        request,
        403,
        "Refused",
        "This form was not sent from this console's page (its security token is missing or "
        "wrong). Nothing was done. Open the page again and retry.",
    )


async def _ledger_error(request: Request, error: Exception) -> Response:
    """The API's status for the error (services/api/errors.py), as a page."""
    assert isinstance(error, LedgerError)
    status = next((s for kind, s in STATUS.items() if isinstance(error, kind)), 500)
    if isinstance(error, InfrastructureError):
        response = _problem_page(
            request, status, "Unavailable", "The database is unavailable; retry in a moment."
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    details = [{"field": p.field, "problem": p.problem} for p in error.details]
    title = {404: "Not found", 422: "Not valid"}.get(status, "Refused")
    return _problem_page(request, status, title, error.message, details)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 404:
        # no route ran the viewer: with a session the page keeps the navigation; without one
        # it shows none (it shows nothing of a tenant either way)
        if getattr(request.state, "viewer", None) is None:
            with contextlib.suppress(auth.SignInRequired, LedgerError):
                await auth.viewer(request, request.app.state.context)
        message = "The console has no page at this address. Find a member, or open a report."
        return _problem_page(request, 404, "Not found", message)
    return _problem_page(request, error.status_code, "Not here", str(error.detail))


def create_console(ctx: Context) -> FastAPI:
    console = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    console.state.context = ctx  # the pages' `context` dependency reads it as the API's does
    console.add_exception_handler(auth.SignInRequired, _sign_in_required)
    console.add_exception_handler(auth.CsrfRefused, _csrf_refused)
    console.add_exception_handler(LedgerError, _ledger_error)
    console.add_exception_handler(StarletteHTTPException, _http_error)
    console.mount(
        "/static", StaticFiles(packages=[("services.api.console", "static")]), name="static"
    )
    for module in (auth, pages, reports):
        console.include_router(module.router)
    return console


def install(app: FastAPI, ctx: Context) -> None:
    """Mount the console (the app's router sends `/console` on to `/console/`)."""
    app.mount(PREFIX, create_console(ctx), name="console")
