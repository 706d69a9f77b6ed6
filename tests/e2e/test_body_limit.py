"""A body far over the limit against a real `serve`: answered 413 (or 401 without a key) while
it streams, and the process's memory stays bounded (F9: 1 GB chunked took it to 2 GB)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.e2e.processes import serving_a_tenant

STREAMED_MB = 200


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def _stream(base_url: str, path: str, headers: dict[str, str], megabytes: int) -> bytes:
    """POST a chunked body of `megabytes`, as fast as the server takes it; the server's answer.

    The server may answer and close before the whole body is sent: sending then fails, and the
    answer is read from what came back."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Transfer-Encoding: chunked"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        chunk = b"[" + b"1," * (512 * 1024) + b"1]"
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        try:
            for _ in range(megabytes):
                sock.sendall(frame)
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
                if b"\r\n\r\n" in answer and b"}}" in answer:
                    break
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def test_a_body_far_over_the_limit_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    with serving_a_tenant(tmp_path) as running:
        serve = running.serve
        assert serve.process is not None
        before = _peak_rss_mb(serve.process.pid)

        refused = _stream(serve.base_url, "/v1/events", running.auth, STREAMED_MB)
        no_key = _stream(serve.base_url, "/v1/scheduling/check", {}, STREAMED_MB)

        assert refused.startswith(b"HTTP/1.1 413"), refused[:200]
        assert b'"payload_too_large"' in refused
        assert no_key.startswith(b"HTTP/1.1 401"), no_key[:200]
        growth = _peak_rss_mb(serve.process.pid) - before
        assert growth < 50, f"peak memory grew {growth:.0f} MB for a {STREAMED_MB} MB body"
