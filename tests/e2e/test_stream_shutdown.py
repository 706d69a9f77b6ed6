"""The event stream against a real `serve`: keep-alive comments while idle, a browser-style
token instead of the header, and a prompt, clean exit on SIGTERM with a client connected."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import serving_a_tenant

STOP_BOUND_S = 10  # uvicorn waited 20-60 s for open streams before they ended on shutdown


def test_an_open_stream_keeps_alive_and_ends_when_serve_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENEFIT_LEDGER_SSE_KEEPALIVE_SECONDS", "0.3")
    with serving_a_tenant(tmp_path) as running:
        serve, key = running.serve, running.key
        token = httpx.post(
            f"{serve.base_url}/v1/feeds/stream-tokens",
            headers={"Authorization": f"Bearer {key}"},
        ).json()["token"]
        lines: list[str] = []
        kept_alive = threading.Event()
        ended = threading.Event()

        def listen() -> None:  # as a browser's EventSource: the token in the URL, no header
            url = f"{serve.base_url}/v1/feeds/events/stream?token={token}"
            with httpx.stream("GET", url, timeout=None) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    lines.append(line)
                    if line == ": keep-alive":
                        kept_alive.set()
            ended.set()

        threading.Thread(target=listen, daemon=True).start()
        assert kept_alive.wait(STOP_BOUND_S), (lines, serve.log_text())
        assert serve.process is not None
        serve.process.terminate()
        started = time.monotonic()
        code = serve.process.wait(timeout=STOP_BOUND_S + 20)
        assert time.monotonic() - started < STOP_BOUND_S, serve.log_text()
        assert code in (0, -15), serve.log_text()  # uvicorn re-raises the SIGTERM it handled
        assert "ERROR" not in serve.log_text()
        assert ended.wait(5), "the client's stream did not end with the server"
