"""What a request may send: a bounded body (413 before it is read whole), only the query
parameters its endpoint takes (422 naming the others, so `asof=` is not silently ignored), and
no control characters in path or query values (422 on both stores alike: PostgreSQL cannot even
store a NUL, SQLite would).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.errors import error_response
from services.ledger.errors import InvalidRequestError, Problem

DEFAULT_MAX_BODY_BYTES = 5_000_000  # a full batch of 1,000 events fits many times over


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes; send smaller batches"


class BodyLimit:
    """Pure ASGI: a body sent without a key is answered 401 unread (every endpoint that takes a
    body needs one); a declared Content-Length over the limit is answered 413 at once, unread; a
    chunked body is counted as it arrives and refused as soon as it passes the limit.
    Paths under `cookie_prefix` (the console's forms, signed in by a session cookie and
    checking their own CSRF token) may post without a key; their bodies are bounded the same."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        cookie_prefix: str | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.cookie_prefix = cookie_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (
            scope["method"] in BODY_METHODS
            and not _has_header(scope, b"authorization")
            and not self._cookie_path(scope)
        ):
            # every endpoint that takes a body needs a key: answer before reading a byte of it
            response = error_response(
                401, "unauthenticated", "send Authorization: Bearer <api key>", []
            )
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = error_response(413, "payload_too_large", _too_large(self.max_bytes), [])
            response.headers["Connection"] = "close"  # the unread body is not drained
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Starlette's HTTPException passes FastAPI's body parsing unchanged
                    raise HTTPException(413, _too_large(self.max_bytes))
            return message

        await self.app(scope, counted, send)

    def _cookie_path(self, scope: Scope) -> bool:
        if self.cookie_prefix is None:
            return False
        path = str(scope["path"]).removeprefix(str(scope.get("root_path", "")))
        return path.startswith(self.cookie_prefix)


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(key == name for key, _ in scope.get("headers", ()))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


_ALLOWED: dict[int, frozenset[str]] = {}


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _has_control(text: str) -> bool:
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


MAX_PARAMETER_LENGTH = 1000


async def known_query_parameters(request: Request) -> None:
    """A dependency of every route: 422 for a query parameter the endpoint does not take, and
    for a path or query value with control characters or longer than 1000 characters."""
    bad = [
        Problem(None, name, "must not contain control characters")
        for name, value in [*request.path_params.items(), *request.query_params.multi_items()]
        if isinstance(value, str) and _has_control(value)
    ] + [
        Problem(None, name, f"longer than {MAX_PARAMETER_LENGTH} characters")
        for name, value in [*request.path_params.items(), *request.query_params.multi_items()]
        if isinstance(value, str) and len(value) > MAX_PARAMETER_LENGTH
    ]
    if bad:
        raise InvalidRequestError("a parameter is not valid", bad)
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    allowed = _ALLOWED.get(id(route))
    if allowed is None:
        allowed = _ALLOWED[id(route)] = frozenset(_query_names(dependant))
    unknown = sorted({name for name in request.query_params if name not in allowed})
    if unknown:
        takes = ", ".join(sorted(allowed)) or "none"
        raise InvalidRequestError(
            f"unknown query parameter(s): {', '.join(unknown)}",
            [
                Problem(None, name, f"this endpoint takes no such parameter (it takes: {takes})")
                for name in unknown
            ],
        )
