"""Signing in and out of the console, and the signed-in viewer every other page depends on."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import parse_qs

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.api.console import session
from services.api.console.render import SECURITY_HEADERS, link, page, root
from services.api.deps import KEY_COLUMNS, Context, _caller, context
from services.ledger.errors import UnauthenticatedError
from services.ledger.keys import hash_key

router = APIRouter()
MAX_FORM_BYTES = 4096  # a sign-in form is a key and a token


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form post without this session's token: refused, nothing done."""


@dataclass(frozen=True)
class Viewer:
    tenant: str
    key_id: str
    csrf: str
    generation: int  # of the key's console sessions: signing out ends it


def _safe_next(request: Request, value: str | None) -> str:
    """Where to go after signing in: a path of the console only (never another site)."""
    prefix = root(request) + "/"
    if value and value.startswith(prefix) and not value.startswith("//") and "\\" not in value:
        return value
    return prefix


async def _key_row(ctx: Context, column: str, value: str) -> tuple[object, ...] | None:
    """The key's row: KEY_COLUMNS, then its hash (row[5]) and console generation (row[6])."""
    rows = await ctx.reader.fetch(
        f"SELECT {KEY_COLUMNS}, key_hash, console_generation FROM api_keys WHERE {column} = ?",
        (value,),
    )
    return tuple(rows[0]) if rows else None


def _generation(row: tuple[object, ...]) -> int:
    return int(str(row[6]))


async def _end_sessions(ctx: Context, key_id: str, generation: int) -> None:
    """Sign out every console session of the key: one more generation (only from the one the
    session had, so two sign-outs at once add one)."""

    def run() -> None:
        connection = ctx.database.connect()
        try:
            with connection.transaction(write=True):
                connection.execute(
                    "UPDATE api_keys SET console_generation = console_generation + 1 "
                    "WHERE key_id = ? AND console_generation = ?",
                    (key_id, generation),
                )
        finally:
            connection.close()

    await anyio.to_thread.run_sync(run)


async def viewer(request: Request, ctx: Context = Depends(context)) -> Viewer:
    """The signed-in reader: a session cookie whose signature, expiry and key still hold (the
    key is read on every request, so a revoked key is signed out at once)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    cookie = request.cookies.get(session.SESSION_COOKIE)
    parsed = session.parse_session_cookie(cookie) if cookie else None
    if parsed is None:
        raise SignInRequired(here)
    found, signature = parsed
    row = await _key_row(ctx, "key_id", found.key_id)
    if row is None or not session.session_valid(
        found, signature, str(row[5]), _generation(row), int(time.time())
    ):
        raise SignInRequired(here)
    try:
        caller = _caller(ctx, row)
    except UnauthenticatedError as error:  # revoked or expired since signing in
        raise SignInRequired(here) from error
    if not caller.has("reader"):
        raise SignInRequired(here)
    request.state.tenant = caller.tenant  # for the access log line
    csrf = session.csrf_token(found, str(row[5]))
    signed_in = Viewer(caller.tenant, caller.key_id, csrf, found.generation)
    request.state.viewer = signed_in  # an error page keeps the navigation and sign-out
    return signed_in


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body, bounded (the console's forms post a few short fields)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=8)
    return {name: values[0] for name, values in fields.items()}


def _sign_in_page(
    request: Request, next_path: str, message: str | None, status_code: int = 200
) -> HTMLResponse:
    token = session.sign_in_token()
    response = page(
        request, "sign_in.html", status_code, csrf=token, next_path=next_path, message=message
    )
    _set_cookie(request, response, session.SIGN_IN_COOKIE, token, session.SIGN_IN_SECONDS)
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str, seconds: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        path=root(request) or "/",
        secure=request.url.scheme == "https",  # a plain-http localhost would drop a Secure one
        httponly=True,
        samesite="strict",
    )


@router.get("/sign-in", include_in_schema=False)
async def sign_in_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _sign_in_page(request, _safe_next(request, next), None)


@router.post("/sign-in", include_in_schema=False)
async def sign_in(request: Request, ctx: Context = Depends(context)) -> Response:
    form = await _form(request)
    next_path = _safe_next(request, form.get("next"))
    if not session.sign_in_valid(request.cookies.get(session.SIGN_IN_COOKIE), form.get("csrf")):
        raise CsrfRefused()
    key = form.get("api_key", "").strip()
    row = await _key_row(ctx, "key_hash", hash_key(key)) if key else None
    refused = "That key is unknown, revoked or expired, or has no reader role."
    if row is None:
        return _sign_in_page(request, next_path, refused, 401)
    try:
        caller = _caller(ctx, row)
    except UnauthenticatedError:
        return _sign_in_page(request, next_path, refused, 401)
    if not caller.has("reader"):
        return _sign_in_page(request, next_path, refused, 401)
    started = session.new_session(caller.key_id, int(time.time()), _generation(row))
    response = RedirectResponse(next_path, status_code=303, headers=SECURITY_HEADERS)
    cookie = session.session_cookie(started, str(row[5]))
    _set_cookie(request, response, session.SESSION_COOKIE, cookie, session.SESSION_SECONDS)
    response.delete_cookie(
        session.SIGN_IN_COOKIE, path=root(request) or "/", httponly=True, samesite="strict"
    )
    return response


@router.post("/sign-out", include_in_schema=False)
async def sign_out(
    request: Request, who: Viewer = Depends(viewer), ctx: Context = Depends(context)
) -> Response:
    """Ends every console session of the key, in every browser (session.py), and this
    browser's cookie."""
    form = await _form(request)
    if not session.tokens_equal(form.get("csrf"), who.csrf):
        raise CsrfRefused()
    await _end_sessions(ctx, who.key_id, who.generation)
    target = link(request, "/sign-in")
    response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(
        session.SESSION_COOKIE, path=root(request) or "/", httponly=True, samesite="strict"
    )
    return response
