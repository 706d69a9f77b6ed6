"""One webhook delivery attempt over HTTP: the address check, the signed POST, what came back.

The request goes to the address the URL was checked to resolve to (no second lookup, so DNS
rebinding cannot aim it elsewhere), with the endpoint's Standard Webhooks signature, and the
whole of it (connect, send, the status line) runs within the timeout. The answer's body is not
read. The lease, the schedule and the bookkeeping are the worker's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx

from services.api.settings import Settings
from services.api.webhooks.signing import signed_headers
from services.api.webhooks.ssrf import Target, UrlRefused, check_url
from services.api.webhooks.store import Endpoint
from services.projections.feed import as_json

MAX_TIMEOUT = 30.0
MAX_RETRY_AFTER = 86400.0  # a receiver may not park its endpoint for longer than a day


@dataclass(frozen=True)
class Outcome:
    """What one send gave: a status code and/or an error, and a 429's Retry-After in seconds."""

    status_code: int | None
    error: str | None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def utc_now() -> datetime:
    return datetime.now(UTC)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (delay in seconds, or an HTTP date) as seconds from `now`."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _pinned(target: Target) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request aimed at the checked address itself, so the name is not resolved again
    (DNS rebinding); Host and TLS SNI (hence certificate checks) still use the name."""
    url = httpx.URL(target.url)
    pinned = url.copy_with(host=str(target.addresses[0]))
    extensions: dict[str, Any] = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = url.raw_host.decode("ascii")
    return pinned, {"host": url.netloc.decode("ascii")}, extensions


class Sender:
    """Sends derived events to endpoints, one signed POST per call of `send`.

    `allow_private` None reads the setting at every attempt. A `client` given is used as it is
    and left open; one the sender makes itself is closed by `aclose`.
    """

    def __init__(
        self,
        timeout: float,
        *,
        client: httpx.AsyncClient | None = None,
        allow_private: bool | None = None,
    ) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self._client = client
        self._owns_client = client is None

    async def aclose(self) -> None:
        """Close the HTTP client the sender made (not one it was given)."""
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # no proxies from the environment: the request must go to the address we checked
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return self._client

    def _private_allowed(self) -> bool:
        if self.allow_private is not None:
            return self.allow_private
        return Settings().allow_private_webhooks

    async def send(
        self, endpoint: Endpoint, item: dict[str, Any], secrets: Sequence[str]
    ) -> Outcome:
        """One POST of the event signed with each of `secrets` (decrypted), once the endpoint's
        address passed the check."""
        allowed = self._private_allowed()
        try:
            target = await anyio.to_thread.run_sync(
                lambda: check_url(endpoint.url, allow_private=allowed)
            )
        except UrlRefused as refused:
            return Outcome(None, f"refused: {refused}")
        body = json.dumps(as_json(item), separators=(",", ":")).encode()
        headers = signed_headers(secrets, item["id"], int(time.time()), body)
        return await self._post(target, headers, body)

    async def _post(self, target: Target, headers: dict[str, str], body: bytes) -> Outcome:
        """POST within the timeout, all of it (connect, send, the status line); the body of the
        answer is not read, so a receiver cannot stall or flood the worker with one."""
        url, host, extensions = _pinned(target)
        try:
            async with (
                asyncio.timeout(self.timeout),
                self._http().stream(
                    "POST",
                    url,
                    content=body,
                    headers={**headers, **host},
                    extensions=extensions,
                    timeout=self.timeout,
                ) as response,
            ):
                status = response.status_code
                wait = response.headers.get("retry-after") if status == 429 else None
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(None, f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as failure:
            return Outcome(None, f"{type(failure).__name__}: {failure}".rstrip(": "))
        problem = None if 200 <= status < 300 else f"HTTP {status}"
        return Outcome(status, problem, retry_after_seconds(wait, utc_now()))
