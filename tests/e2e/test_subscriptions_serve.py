"""Subscriptions against a real `serve` process (SQLite and PostgreSQL): the delivery worker that
`serve` runs sends a signed webhook for the guide's retroactive reduction, and the SSE stream over
real HTTP resumes from `Last-Event-ID`."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from services.api.webhooks.signing import verify
from services.ledger.demo import reduction, weekly_example
from tests.conftest import new_tenant
from tests.e2e.conftest import Server, cli

DEADLINE_S = 30


@pytest.fixture
def allow_private_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before `server` starts: the receiver listens on 127.0.0.1."""
    monkeypatch.setenv("BENEFIT_LEDGER_ALLOW_PRIVATE_WEBHOOKS", "true")


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def _frames(response: httpx.Response, count: int) -> list[dict[str, str]]:
    frames: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if "id" in fields:
                frames.append(fields)
                if len(frames) == count:
                    return frames
            fields = {}
        elif not line.startswith(":") and ": " in line:
            name, _, value = line.partition(": ")
            fields[name] = value
    return frames


def test_webhook_and_sse_against_a_real_server(
    allow_private_webhooks: None, server: Server, receiver: Receiver
) -> None:
    tenant = new_tenant()
    roles = "writer,reader,subscriber"
    created = cli(
        "keys", "create", "--tenant", tenant, "--roles", roles, "--database", server.database
    )
    assert created.returncode == 0, created.stderr
    headers = {"Authorization": f"Bearer {created.stdout.strip()}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        hook = client.post("/v1/webhooks", json={"url": receiver.url, "types": ["balance.changed"]})
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]
        events = [dict(e, id=str(uuid.uuid4())) for e in weekly_example(date(2026, 10, 4))]
        cut = dict(reduction(), id=str(uuid.uuid4()))
        for batch in (events, [cut]):
            assert client.post("/v1/events", json={"events": batch}).status_code == 200

        deadline = time.monotonic() + DEADLINE_S
        while not any(
            json.loads(b)["data"]["cause_event_id"] == cut["id"] for _, b in receiver.requests
        ):
            assert time.monotonic() < deadline, f"no webhook for the reduction: {receiver.requests}"
            time.sleep(0.1)
        sent = [json.loads(body) for _, body in receiver.requests]
        assert [e["sequence"] for e in sent] == sorted(e["sequence"] for e in sent)
        assert {e["type"] for e in sent} == {"balance.changed"}
        last_headers, last_body = receiver.requests[-1]
        verify(secret, last_headers, last_body)  # raises when the signature does not match
        assert sent[-1]["data"]["previous"]["accumulated_units"] == "7"
        assert sent[-1]["data"]["current"]["accumulated_units"] == "0"

        with client.stream("GET", "/v1/feeds/events/stream") as stream:
            first = _frames(stream, 2)
        assert [f["id"] for f in first] == ["1", "2"]
        resume = {"Last-Event-ID": first[-1]["id"]}
        with client.stream("GET", "/v1/feeds/events/stream", headers=resume) as stream:
            [third] = _frames(stream, 1)
        assert third["id"] == "3"
        assert json.loads(third["data"])["sequence"] == 3
        # the session's PostgreSQL database is shared: leave no endpoint for later workers
        assert client.delete(f"/v1/webhooks/{hook.json()['id']}").status_code == 204
