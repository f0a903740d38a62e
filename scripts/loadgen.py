"""A light HTTP/1.1 load generator for the search benchmark.

The benchmark's clients share the server's two cores, so every microsecond a client
spends is taken from the server. httpx costs several times the CPU per request of this
client, which writes pre-built requests on keep-alive connections from one asyncio loop
and reads only the status line and the body length (docs/benchmarks.md). Latency is
measured per request from write to the last byte of the body.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    """What a run measured: per-request seconds, failures, wall and client CPU time."""

    latencies: list[float]
    errors: list[str]
    elapsed: float
    client_cpu: float

    @property
    def per_s(self) -> float:
        """Completed requests per second of wall time."""
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def checked(self) -> LoadResult:
        """This result, or SystemExit naming the failures when any request failed."""
        if self.errors:
            raise SystemExit(f"{len(self.errors)} failed searches, e.g. {self.errors[0]}")
        return self


def search_requests(
    url: str, headers: dict[str, str], queries: Sequence[str], limit: int = 5
) -> list[bytes]:
    """One ready-to-send `POST /search` per query."""
    parts = urlsplit(url)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    out = []
    for q in queries:
        body = json.dumps({"query": q, "limit": limit}).encode()
        out.append(
            (
                f"POST /search HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    return out


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("chunked responses are not supported by this load generator")
    body = await reader.readexactly(length or 0)
    return status, body


async def _run(
    url: str, requests: Sequence[bytes], clients: int, seconds: float | None, count: int | None
) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + seconds if seconds else float("inf")
    budget = [count if count is not None else -1]

    async def client(c: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        i = c
        try:
            while time.perf_counter() < stop:
                if budget[0] == 0:
                    break
                budget[0] -= 1
                t = time.perf_counter()
                status, body = await _exchange(reader, writer, requests[i % len(requests)])
                latencies.append(time.perf_counter() - t)
                if status != 200:
                    errors.append(f"{status}: {body[:200]!r}")
                i += clients
        finally:
            writer.close()

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return LoadResult(latencies, errors, time.perf_counter() - started, time.process_time() - cpu)


def run(
    url: str,
    requests: Sequence[bytes],
    *,
    clients: int = 1,
    seconds: float | None = None,
    count: int | None = None,
) -> LoadResult:
    """Send `requests` (cycled) from `clients` connections until `seconds` pass or
    `count` requests are done, whichever comes first."""
    if seconds is None and count is None:
        raise ValueError("give seconds or count")
    return asyncio.run(_run(url, requests, clients, seconds, count))
