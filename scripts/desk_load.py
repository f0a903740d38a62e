"""The desk's set-up and operations for scripts.bench_desk, over a light HTTP/1.1 client.

The requests are written by a small client on one asyncio loop (as scripts/loadgen.py,
for the same reason: the clients share the machine with the service): pre-encoded
requests on keep-alive connections, a new connection when none is idle.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge" / "articles"
# uvicorn closes a keep-alive connection after 5 idle seconds: reuse only younger ones
IDLE_REUSE_SECONDS = 3.0

GROUPS = {"open_call": "call_write", "attempt": "call_write", "note": "call_write"}
PLACES = ["", "on CT 2", "in the main department", "at the outpatient site", "in room 4"]
WHEN = ["", "since this morning", "after the weekend", "for the second time today"]
SERIAL_SUFFIX = "AUR64"


def query_text(queries: list[str], i: int) -> str:
    """The i-th query: the evaluation queries in turn, each cycle with other context."""
    base = queries[i % len(queries)]
    variant = i // len(queries)
    extra = " ".join(
        s for s in (PLACES[variant % len(PLACES)], WHEN[variant // len(PLACES) % len(WHEN)]) if s
    )
    if variant >= len(PLACES) * len(WHEN):
        extra = f"{extra} (caller {variant})".strip()
    return f"{base} {extra}" if extra else base


# -- a light HTTP/1.1 client --------------------------------------------------------------


class Connection:
    """One keep-alive connection that sends a request and reads its whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.open = True
        self.used = time.perf_counter()

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send `request`; returns (status, body)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif name == b"connection" and value == b"close":
                self.open = False
        if not chunked:
            return status, await self.reader.readexactly(length)
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size + 2))
        await self.reader.readuntil(b"\r\n")
        return status, b"".join(p[:-2] for p in parts)

    def close(self) -> None:
        self.open = False
        self.writer.close()


class Client:
    """Requests from a pool of keep-alive connections (a new one when none is idle)."""

    def __init__(self, url: str, timeout: float, max_connections: int = 256) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.netloc = parts.netloc
        self.timeout = timeout
        self.idle: list[Connection] = []
        self.slots = asyncio.Semaphore(max_connections)

    def build(self, method: str, path: str, key: str, body: Any, headers: dict[str, str]) -> bytes:
        data = json.dumps(body).encode() if body is not None else b""
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return (
            f"{method} {path} HTTP/1.1\r\nHost: {self.netloc}\r\nX-API-Key: {key}\r\n{head}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode() + data

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """One exchange; a failed connection is dropped and the error raised."""
        async with self.slots:
            conn = self._idle()
            try:
                answer = await self._exchange(conn or await self._connect(), request)
            except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                if conn is None or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                    raise
                # the server closed the idle connection as the request left (its keep-alive
                # timeout): nothing was answered, so it goes again on a new connection
                answer = await self._exchange(await self._connect(), request)
            return answer

    def _idle(self) -> Connection | None:
        """An idle connection young enough to be kept by the server, or None."""
        while self.idle:
            conn = self.idle.pop()
            if time.perf_counter() - conn.used < IDLE_REUSE_SECONDS:
                return conn
            conn.close()
        return None

    async def _connect(self) -> Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return Connection(reader, writer)

    async def _exchange(self, conn: Connection, request: bytes) -> tuple[int, bytes]:
        try:
            answer = await asyncio.wait_for(conn.exchange(request), self.timeout)
        except BaseException:
            conn.close()
            raise
        if conn.open:
            conn.used = time.perf_counter()
            self.idle.append(conn)
        else:
            conn.close()
        return answer

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


# -- what was measured ----------------------------------------------------------------------


@dataclass
class Stats:
    """One operation's answers: seconds of the successful ones, errors by status."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    example: str = ""
    sent: int = 0

    def add(self, seconds: float, status: str | None, body: bytes = b"") -> None:
        self.sent += 1
        if status is None:
            self.latencies.append(seconds)
            return
        self.errors[status] += 1
        if not self.example:
            self.example = f"{status}: {body[:200].decode(errors='replace')}"


def percentile_ms(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile in milliseconds (None without values)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 1)


# -- the desk the load works on --------------------------------------------------------------


@dataclass
class Desk:
    """What the set-up made: keys, the scanner, articles and the calls being worked."""

    run: str
    admin: str
    # several of each, as at a desk: the service limits each key's rate
    dispatchers: list[str]
    integrations: list[str]
    engineers: list[str]
    serial: str
    articles: list[list[int]]  # [id, version]
    calls: deque[int] = field(default_factory=lambda: deque(maxlen=20))
    shown: dict[int, int] = field(default_factory=dict)  # call id -> an article it showed

    @property
    def dispatcher(self) -> str:
        """One of the dispatchers' keys."""
        return random.choice(self.dispatchers)

    @property
    def integration(self) -> str:
        """One of the integrations' keys."""
        return random.choice(self.integrations)

    @property
    def engineer(self) -> str:
        """One of the engineers' keys."""
        return random.choice(self.engineers)


def _post(http: httpx.Client, path: str, body: Any) -> Any:
    r = http.post(path, json=body)
    if r.status_code >= 300:
        raise SystemExit(f"set-up: POST {path} answered {r.status_code}: {r.text[:300]}")
    return r.json()


def _key(http: httpx.Client, run: str, name: str, role: str) -> tuple[int, str]:
    person = _post(
        http,
        "/people",
        {
            "name": f"Bench {run} {name}",
            "roles": [role],
            "phone": "+44 20 7946 0000",
            "email": "bench@example.org",
        },
    )
    return person["id"], _post(http, "/keys", {"name": "bench", "person_id": person["id"]})["key"]


def article_body(run: str, n: int, edit: int = 0) -> dict[str, Any]:
    """A published CT article of the bench run (its issue text changes with each edit)."""
    return {
        "title": f"Bench {run} {n}: gantry stops with a grinding noise",
        "issue": f"The gantry grinds when it spins up and stops the scan (revision {edit}).",
        "modality": "CT",
        "manufacturer": "Nordvale Medical",
        "models": ["Aurion 64"],
        "error_codes": [f"BNC-{run}-{n:03d}"],
        "cause": "Worn gantry bearing.",
        "steps": [
            {"text": "Stop scanning and note the error on the console."},
            {"text": "Inspect the bearing.", "tier1_allowed": False, "restriction": "covers"},
        ],
        "escalate_when": "Any grinding noise.",
        "status": "published",
    }


def call_body(desk: Desk, i: int) -> dict[str, Any]:
    """A system-down call on the bench scanner (enough for an escalation)."""
    return {
        "caller_name": f"Caller {i}",
        "callback_number": "+44 20 7946 0123",
        "serial_number": desk.serial,
        "symptom": "loud bang from the gantry, then lines across the images",
        "urgency": "system_down",
        "patient_impact": True,
    }


def seed_library(http: httpx.Client) -> int:
    """Import the seed library through the API (on a service with nothing searchable)."""
    from app.articles.markdown import parse_file

    lines = [
        json.dumps(parse_file(p).model_dump(mode="json")) for p in sorted(KNOWLEDGE.rglob("*.md"))
    ]
    for start in range(0, len(lines), 25):
        r = http.post("/articles/import", content="\n".join(lines[start : start + 25]))
        if r.status_code >= 300 or r.json().get("failed"):
            raise SystemExit(f"set-up: importing the seed library: {r.status_code} {r.text[:300]}")
    return len(lines)


def set_up(url: str, key: str, *, articles: int, people: int, seed: bool) -> Desk:
    """People and keys (`people` dispatchers, integrations and engineers), a site and
    scanner, the run's articles and some open calls."""
    run = uuid.uuid4().hex[:6]
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=600) as http:
        status = http.get("/search/index")
        if status.status_code != 200:
            raise SystemExit(
                f"set-up: GET /search/index answered {status.status_code}: is the key an admin's?"
            )
        if seed and status.json()["documents"] == 0:
            print("importing the seed library (nothing is searchable yet)...", file=sys.stderr)
            seed_library(http)
        field_id, _ = _key(http, run, "field engineer", "field_engineer")
        keys = {
            kind: [_key(http, run, f"{kind} {n}", role)[1] for n in range(people)]
            for kind, role in (
                ("dispatcher", "dispatcher"),
                ("integration", "dispatcher"),
                ("engineer", "engineer"),
            )
        }
        site = _post(
            http,
            "/sites",
            {
                "hospital": f"Bench {run}",
                "department": "Radiology",
                "main_phone": "+44 20 7946 0100",
            },
        )
        serial = f"{SERIAL_SUFFIX}-{run}"
        _post(
            http,
            "/assets",
            {
                "site_id": site["id"],
                "modality": "CT",
                "manufacturer": "Nordvale Medical",
                "model": "Aurion 64",
                "serial_number": serial,
                "primary_engineer_id": field_id,
            },
        )
        made = [_post(http, "/articles", article_body(run, n)) for n in range(articles)]
        desk = Desk(
            run,
            key,
            keys["dispatcher"],
            keys["integration"],
            keys["engineer"],
            serial,
            [[a["id"], a["version"]] for a in made],
        )
        http.headers["X-API-Key"] = desk.dispatcher
        for i in range(10):
            call = _post(http, "/calls", call_body(desk, i))
            desk.calls.append(call["id"])
            found = _post(http, f"/calls/{call['id']}/search", {"query": "gantry grinding noise"})
            if found["results"]:
                desk.shown[call["id"]] = found["results"][0]["id"]
    return desk


# -- the operations -----------------------------------------------------------------------


class Load:
    """Sends the desk's operations and records each answer under its name."""

    def __init__(self, client: Client, desk: Desk, queries: list[str]) -> None:
        self.client = client
        self.desk = desk
        self.queries = queries
        self.stats: dict[str, Stats] = {}
        self.counter = itertools.count()
        self.writes = itertools.count()
        self.lag: list[float] = []  # how late each open-loop request left the client
        # a call is worked by one dispatcher, one request at a time (as at a desk)
        self.locks: dict[int, asyncio.Lock] = {}

    async def request(
        self,
        op: str,
        method: str,
        path: str,
        key: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        since: float | None = None,
    ) -> tuple[int, Any]:
        """One request recorded under `op`, its latency counted from `since` (its scheduled
        time) or from now; returns (status, parsed body or None)."""
        request = self.client.build(method, path, key, body, headers or {})
        started = time.perf_counter()
        if since is not None:
            self.lag.append(started - since)
        try:
            status, raw = await self.client.send(request)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            self._record(op, time.perf_counter() - (since or started), type(exc).__name__)
            return 0, None
        ok = 200 <= status < 300
        self._record(op, time.perf_counter() - (since or started), None if ok else str(status), raw)
        if not ok:
            return status, None
        return status, json.loads(raw) if raw else None

    def _record(self, op: str, seconds: float, error: str | None, body: bytes = b"") -> None:
        for name in (op, GROUPS.get(op)):
            if name:
                self.stats.setdefault(name, Stats()).add(seconds, error, body)

    def _query(self) -> str:
        return query_text(self.queries, next(self.counter))

    def _call(self, shown: bool = False) -> int | None:
        """A call being worked (one that showed an article, if `shown`), preferably one
        with no request in flight; None when there is none."""
        calls = [c for c in self.desk.calls if not shown or c in self.desk.shown]
        free = [c for c in calls if not self._lock(c).locked()]
        return random.choice(free or calls) if calls else None

    def _lock(self, call_id: int) -> asyncio.Lock:
        return self.locks.setdefault(call_id, asyncio.Lock())

    async def search(self, since: float | None = None) -> None:
        body = {"query": self._query(), "limit": 5}
        await self.request("search", "POST", "/search", self.desk.integration, body, since=since)

    async def call_search(self, since: float | None = None, call_id: int | None = None) -> None:
        call_id = call_id or self._call()
        assert call_id is not None, "the set-up opens calls"
        async with self._lock(call_id):
            _, found = await self.request(
                "call_search",
                "POST",
                f"/calls/{call_id}/search",
                self.desk.dispatcher,
                {"query": self._query()},
                since=since,
            )
        if found and found["results"]:
            self.desk.shown[call_id] = found["results"][0]["id"]

    async def open_call(self, since: float | None = None) -> int | None:
        body = call_body(self.desk, next(self.counter))
        _, call = await self.request(
            "open_call", "POST", "/calls", self.desk.dispatcher, body, since=since
        )
        if call is None:
            return None
        self.desk.calls.append(call["id"])
        return int(call["id"])

    async def attempt(self, since: float | None = None, call_id: int | None = None) -> None:
        call_id = call_id or self._call(shown=True)
        if call_id is None or call_id not in self.desk.shown:
            await self.note(since)
            return
        body = {"article_id": self.desk.shown[call_id], "outcome": "no_change"}
        path = f"/calls/{call_id}/attempts"
        async with self._lock(call_id):
            await self.request("attempt", "POST", path, self.desk.dispatcher, body, since=since)

    async def note(self, since: float | None = None) -> None:
        call_id = self._call()
        assert call_id is not None, "the set-up opens calls"
        body = {"text": f"Caller rang back: still failing ({next(self.counter)})."}
        async with self._lock(call_id):
            path = f"/calls/{call_id}/notes"
            await self.request("note", "POST", path, self.desk.dispatcher, body, since=since)

    async def call_write(self, since: float | None = None) -> None:
        """Open a call, record an attempt, add a note: in turn."""
        kind = next(self.writes) % 3
        await (self.open_call, self.attempt, self.note)[kind](since)

    async def escalate(self) -> None:
        """A call through to tier 2: opened, searched, a fix tried, escalated."""
        call_id = await self.open_call()
        if call_id is None:
            return
        self.desk.calls.remove(call_id)  # escalated calls are not worked by the others
        await self.call_search(call_id=call_id)
        await self.attempt(call_id=call_id)
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        body = {"reason": "bench: not fixed by the tried article"}
        await self.request(
            "escalate", "POST", f"/calls/{call_id}/escalate", self.desk.dispatcher, body, headers
        )

    async def article_edit(self, since: float | None = None, n: int | None = None) -> None:
        """An engineer's edit of one of the run's articles (re-embedded)."""
        n = n if n is not None else next(self.counter) % len(self.desk.articles)
        article = self.desk.articles[n]
        body = {"issue": article_body(self.desk.run, n, article[1])["issue"]}
        _, read = await self.request(
            "article_edit",
            "PATCH",
            f"/articles/{article[0]}",
            self.desk.engineer,
            body,
            {"If-Match": f'"{article[1]}"'},
            since=since,
        )
        if read is not None:
            article[1] = read["version"]
