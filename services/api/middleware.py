"""Per request: a request id (in the logs' context and the X-Request-Id answer header), the
latency histogram and one access log line.

Pure ASGI, not BaseHTTPMiddleware: the answer's messages pass through as they come, so feed
streams are not buffered. The duration runs to the end of the answer (a stream's whole life).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.logs import (
    REQUEST_ID_HEADER,
    accepted_request_id,
    new_request_id,
    request_id,
)
from services.api.metrics import Metrics

log = logging.getLogger("benefit_ledger.access")

UNMATCHED_ROUTE = "unmatched"  # no route matched (404): the raw path would be unbounded
# probes and scrapes come every few seconds: their successes are logged at DEBUG only
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def route_template(scope: Scope) -> str:
    """The matched route's template (`/v1/members/{member_id}/benefits`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            return accepted_request_id(value.decode("latin-1"))
    return None


class RequestObservability:
    """Wraps the app: request id, metrics and access log for every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_request_id(scope) or new_request_id()
        # the error handlers run outside this middleware's context: they read it from the scope
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        header = (REQUEST_ID_HEADER.encode(), rid.encode())
        status = 500  # if the app fails before answering, the server answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self._observe(scope, state, status, seconds)
            request_id.reset(token)

    def _observe(self, scope: Scope, state: dict[str, Any], status: int, seconds: float) -> None:
        method, route = str(scope["method"]), route_template(scope)
        self.metrics.observe_request(method, route, status, seconds)
        duration_ms = round(seconds * 1000, 3)
        level = logging.DEBUG if route in QUIET_ROUTES and status < 400 else logging.INFO
        if log.isEnabledFor(logging.DEBUG):  # the raw path may name a member: DEBUG only
            log.debug("request path", extra={"method": method, "path": scope.get("path")})
        if log.isEnabledFor(level):
            fields = {"method": method, "route": route, "status": status}
            fields["duration_ms"] = duration_ms
            if state.get("tenant") is not None:  # known once the caller's key was checked
                fields["tenant"] = state["tenant"]
            log.log(level, "%s %s %s %s ms", method, route, status, duration_ms, extra=fields)
