"""A lean HTTP/1.1 load generator: keep-alive connections on raw asyncio streams.

httpx spends more CPU per request than the service does, and on a 2-core machine the load
generator shares the cores with `serve` and PostgreSQL; this one costs a few microseconds a
request, so the figures measure the service.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit


class Connection:
    """One keep-alive connection that sends a request and reads its whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, base_url: str) -> Connection:
        parts = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        return cls(reader, writer)

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        lines = [f"POST {path} HTTP/1.1", "Host: bench", f"Content-Length: {len(body)}"]
        lines += ["Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def closed_loop(
    base_url: str,
    headers: dict[str, str],
    bodies: Callable[[], dict[str, object]],
    clients: int,
    seconds: float,
) -> tuple[list[float], float]:
    """`clients` connections each posting one body after another until the time is up.

    Returns each request's latency in seconds and the elapsed time.
    """
    latencies: list[float] = []
    connections = [await Connection.open(base_url) for _ in range(clients)]
    deadline = time.perf_counter() + seconds

    async def one(connection: Connection) -> None:
        while time.perf_counter() < deadline:
            body = json.dumps(bodies()).encode()
            sent = time.perf_counter()
            status, answer = await connection.post("/v1/events", headers, body)
            if status != 200:
                raise RuntimeError(f"answered {status}: {answer[:300]!r}")
            latencies.append(time.perf_counter() - sent)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(connection) for connection in connections))
    finally:
        for connection in connections:
            connection.close()
    return latencies, time.perf_counter() - started
