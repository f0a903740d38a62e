"""A bounded mixed desk load through the load balancer (searches, article writes, calls
and escalations), recording every request, every acknowledged write, and how long each
published article takes to be found by search on every other replica."""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import article_payload

SYMPTOMS = [
    "popping sound and streaks on the images",
    "gantry will not rotate and grinds",
    "tube overheating message during long scans",
    "table does not move up",
    "rings on the images after the morning warm-up",
    "HV-417",
    "scanner reboots in the middle of a scan",
    "contrast injector does not arm",
]
# a client's next request: a search below SEARCHES, a call's next step below CALLS, an
# article write above (far more writes than a desk makes, to measure many publishes)
SEARCHES, CALLS = 0.45, 0.9
PROBE_LIMIT = 30.0  # seconds a published article may take to appear before it counts as lost
PROBE_EVERY = 0.05  # seconds between two searches of one replica for a new article


@dataclass
class Outcome:
    """One request through the load balancer."""

    op: str
    status: int | None  # None: no response at all
    started: float
    ended: float
    served_by: str | None
    detail: str = ""


@dataclass
class AckedArticle:
    """An article as its last acknowledged write left it."""

    id: int
    code: str
    version: int
    published: bool
    at: float  # when the write was acknowledged (perf_counter)


@dataclass
class Acked:
    """Writes that got a 2xx: each must be in the database afterwards."""

    articles: dict[int, AckedArticle] = field(default_factory=dict)
    calls: set[int] = field(default_factory=set)
    events: set[int] = field(default_factory=set)
    escalations: set[int] = field(default_factory=set)


@dataclass
class Lag:
    """Seconds from a publish acknowledged on `origin` until `replica` found it."""

    article_id: int
    origin: str
    replica: str
    seconds: float
    acked_at: float  # perf_counter


@dataclass
class CallFlow:
    """A client's call in progress: open, search, open the top fix, try it, escalate."""

    id: int
    step: int = 1
    article_id: int = 0


class MixedLoad:
    """16 clients by default, each at most one request per `pace` seconds, for `seconds`."""

    def __init__(
        self,
        *,
        base_url: str,
        replicas: dict[str, str],
        dispatcher_key: str,
        engineer_key: str,
        serial_number: str,
        clients: int = 16,
        seconds: float = 60.0,
        pace: float = 0.5,
    ) -> None:
        self.base_url = base_url
        self.replicas = replicas
        self.dispatcher = {"X-API-Key": dispatcher_key}
        self.engineer = {"X-API-Key": engineer_key}
        self.serial_number = serial_number
        self.clients = clients
        self.seconds = seconds
        self.pace = pace
        self.run_id = uuid.uuid4().hex[:6].upper()
        self.codes = itertools.count(1)
        self.lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self.acked = Acked()
        self.lags: list[Lag] = []
        self.lost: list[tuple[int, str]] = []  # (article, replica) never found in time
        self.probe_errors: list[str] = []
        self.down: set[str] = set()
        self.stop = threading.Event()
        self.probes = ThreadPoolExecutor(max_workers=16, thread_name_prefix="probe")
        self.local = threading.local()

    # -- the run --

    def run(self, during: Callable[[], None]) -> None:
        """Start the clients and `during()` beside them (it may kill and restart a
        replica), stop the clients when the time is up, then wait for `during` and the
        probes; an error in `during` is raised here."""
        threads = [
            threading.Thread(target=self._client, args=(n,), name=f"client-{n}")
            for n in range(self.clients)
        ]
        failed: list[BaseException] = []

        def side() -> None:
            try:
                during()
            except BaseException as exc:
                failed.append(exc)

        beside = threading.Thread(target=side, name="during")
        ends = time.perf_counter() + self.seconds
        for t in threads:
            t.start()
        beside.start()
        try:
            self.stop.wait(max(0.0, ends - time.perf_counter()))
        finally:
            self.stop.set()
            for t in threads:
                t.join()
            beside.join()
            self.probes.shutdown(wait=True)
        if failed:
            raise failed[0]

    def mark_down(self, name: str) -> None:
        """Probes leave this replica alone (it is about to be killed)."""
        with self.lock:
            self.down.add(name)

    def mark_up(self, name: str) -> None:
        """Probes include this replica again."""
        with self.lock:
            self.down.discard(name)

    # -- one client --

    def _client(self, n: int) -> None:
        rng = random.Random(n)
        drafts: list[AckedArticle] = []
        published: list[AckedArticle] = []
        call: CallFlow | None = None
        with httpx.Client(base_url=self.base_url, timeout=60) as http:
            next_at = time.perf_counter()
            while not self.stop.is_set():
                r = rng.random()
                if r < SEARCHES:
                    self._search(http, rng)
                elif r < CALLS:
                    call = self._call_step(http, rng, call)
                else:
                    self._article_step(http, rng, drafts, published)
                next_at += self.pace
                self.stop.wait(max(0.0, next_at - time.perf_counter()))

    def _send(
        self,
        http: httpx.Client,
        op: str,
        method: str,
        path: str,
        headers: dict[str, str],
        **kw: Any,
    ) -> httpx.Response | None:
        """The response when it is a 2xx; every request is recorded."""
        started = time.perf_counter()
        try:
            response = http.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            outcome = Outcome(op, None, started, time.perf_counter(), None, repr(exc))
            with self.lock:
                self.outcomes.append(outcome)
            return None
        outcome = Outcome(
            op,
            response.status_code,
            started,
            time.perf_counter(),
            response.headers.get("x-served-by"),
            "" if response.is_success else response.text[:300],
        )
        with self.lock:
            self.outcomes.append(outcome)
        return response if response.is_success else None

    def _search(self, http: httpx.Client, rng: random.Random) -> None:
        body = {"query": rng.choice(SYMPTOMS), "limit": 5}
        self._send(http, "search", "POST", "/search", self.dispatcher, json=body)

    def _call_step(
        self, http: httpx.Client, rng: random.Random, call: CallFlow | None
    ) -> CallFlow | None:
        """The next request of the client's call; None when the call is done or a request
        failed (a call whose last write is uncertain is left as it is)."""
        d = self.dispatcher
        body: dict[str, Any]
        if call is None:
            body = {
                "caller_name": "Load Caller",
                "callback_number": "+44 20 7946 0123",
                "serial_number": self.serial_number,
                "symptom": rng.choice(SYMPTOMS),
                "urgency": "degraded",
            }
            r = self._send(http, "call.open", "POST", "/calls", d, json=body)
            if r is None:
                return None
            with self.lock:
                self.acked.calls.add(r.json()["id"])
            return CallFlow(r.json()["id"])
        path = f"/calls/{call.id}"
        if call.step == 1:
            body = {"query": rng.choice(SYMPTOMS)}
            r = self._send(http, "call.search", "POST", f"{path}/search", d, json=body)
            if r is None or not r.json()["results"]:
                return None
            call.article_id, call.step = r.json()["results"][0]["id"], 2
        elif call.step == 2:
            r = self._send(
                http, "call.open_article", "POST", f"{path}/articles/{call.article_id}/open", d
            )
            if r is None:
                return None
            call.step = 3
        elif call.step == 3:
            body = {"article_id": call.article_id, "step": 1, "outcome": "no_change", "note": "x"}
            r = self._send(http, "call.attempt", "POST", f"{path}/attempts", d, json=body)
            if r is None:
                return None
            with self.lock:
                self.acked.events.add(r.json()["id"])
            call.step = 4
        else:
            headers = d | {"Idempotency-Key": f"load-{self.run_id}-{call.id}"}
            body = {"reason": "still failing under load"}
            r = self._send(http, "call.escalate", "POST", f"{path}/escalate", headers, json=body)
            if r is not None:
                with self.lock:
                    self.acked.escalations.add(r.json()["id"])
            return None
        return call

    def _article_step(
        self,
        http: httpx.Client,
        rng: random.Random,
        drafts: list[AckedArticle],
        published: list[AckedArticle],
    ) -> None:
        """Publish one of the client's drafts, edit one of its published articles, or
        write a new article (published or draft). An article whose last write failed is
        left alone from then on: its version is uncertain."""
        e = self.engineer
        r = rng.random()
        if drafts and r < 0.3:
            article = drafts.pop()
            resp = self._send(http, "article.publish", "POST", f"/articles/{article.id}/publish", e)
            if resp is not None:
                self._acked_article(resp.json(), article.code, origin=resp)
                published.append(self.acked.articles[article.id])
        elif published and r < 0.6:
            article = published.pop(rng.randrange(len(published)))
            headers = e | {"If-Match": f'"{article.version}"'}
            edit = {"cause": f"Edited under load, {rng.random():.6f}."}
            resp = self._send(
                http, "article.edit", "PATCH", f"/articles/{article.id}", headers, json=edit
            )
            if resp is not None:
                self._acked_article(resp.json(), article.code)
                published.append(self.acked.articles[article.id])
        else:
            code = f"LD{self.run_id}-{next(self.codes)}"
            publish = rng.random() < 0.5
            body = article_payload(
                title=f"Load article {code} gantry grinds",
                error_codes=[code],
                status="published" if publish else "draft",
            )
            resp = self._send(http, "article.create", "POST", "/articles", e, json=body)
            if resp is not None:
                self._acked_article(resp.json(), code, origin=resp if publish else None)
                (published if publish else drafts).append(self.acked.articles[resp.json()["id"]])

    def _acked_article(
        self, body: dict[str, Any], code: str, origin: httpx.Response | None = None
    ) -> None:
        """Record an acknowledged article write; a publish (`origin`) is probed."""
        acked_at = time.perf_counter()
        published = body["status"] == "published"
        article = AckedArticle(body["id"], code, body["version"], published, acked_at)
        with self.lock:
            self.acked.articles[article.id] = article
        if origin is not None:
            served_by = origin.headers.get("x-served-by", "")
            for name in self.replicas:
                if name != served_by:
                    self.probes.submit(self._probe, article.id, code, acked_at, served_by, name)

    # -- visibility lag --

    def _probe(self, article_id: int, code: str, acked_at: float, origin: str, name: str) -> None:
        """Search one replica directly until it finds the article; its lag is measured to
        the answer that had it (an overestimate by at most one search and one interval)."""
        if not hasattr(self.local, "http"):
            self.local.http = httpx.Client(timeout=10)
        http: httpx.Client = self.local.http
        deadline = acked_at + PROBE_LIMIT
        while time.perf_counter() < deadline:
            with self.lock:
                if name in self.down:  # killed or starting again: not a measure of the feed
                    return
            try:
                response = http.post(
                    f"{self.replicas[name]}/search",
                    json={"query": code, "limit": 5},
                    headers=self.dispatcher,
                )
            except httpx.HTTPError as exc:
                found, error = False, f"{name}: {exc!r}"
            else:
                error = "" if response.is_success else f"{name}: {response.status_code}"
                found = response.is_success and any(
                    hit["id"] == article_id for hit in response.json()["results"]
                )
            with self.lock:
                if error and name not in self.down:
                    self.probe_errors.append(error)
                if found:
                    lag = time.perf_counter() - acked_at
                    self.lags.append(Lag(article_id, origin, name, lag, acked_at))
                    return
            time.sleep(PROBE_EVERY)
        with self.lock:
            if name not in self.down:
                self.lost.append((article_id, name))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
