"""PostgreSQL restarted under load: the service answers 503 problem+json with Retry-After
while the database is away (never a 500, never a hang) and recovers by itself.

The test runs a private PostgreSQL server (Debian's binaries, a throw-away cluster on a
free port) so that stopping it touches nobody else's database, and a real uvicorn process
of the app on it.

/health stays 200 while the database is away, on purpose: every replica shares the one
database, so a health check that reported it would take every replica out of the load
balancer at once; clients would then get the balancer's own error page instead of the
service's 503 problem+json with Retry-After, and the searches the service can still answer
from memory (hit cards cached) would be lost too. /health says whether this process can
serve; the 503s say that the database cannot.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.errors import database_unavailable
from scripts.benchmark import _free_port, eval_queries
from tests.calls.conftest import make_desk
from tests.conftest import ROOT
from tests.processes import admin_key

HANG = 10.0  # no answer may take longer than this, database or not
RECOVERY = 30.0  # after the restart, every operation answers 2xx again within this


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parts[-3])
    return found[-1].parent if found else None


@dataclass
class PrivatePostgres:
    """A throw-away PostgreSQL cluster: its URL and how to stop and start it."""

    bin: Path
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        # PostgreSQL refuses to run as root: as root, run it as the `postgres` user
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-k {self.folder} -c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off"
        pg_ctl = str(self.bin / "pg_ctl")
        log = str(self.folder / "server.log")
        self._run(pg_ctl, "-D", str(self.folder / "data"), "-l", log, "-w", "-o", options, "start")

    def stop(self) -> None:
        """As a crash or a restart would: every connection cut at once."""
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.folder / "data"),
            "-m",
            "immediate",
            "-w",
            "stop",
        )


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of our own, started; stopped and removed after the test."""
    bin_dir = _pg_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        message = "PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) are not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # not under pytest's tmp_path: the `postgres` user must be able to reach the folder
    folder = Path(tempfile.mkdtemp(prefix="pg-outage-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    server = PrivatePostgres(bin_dir, folder, _free_port())
    try:
        server._run(
            str(bin_dir / "initdb"),
            "-D",
            str(folder / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Answer:
    """One request as the client saw it."""

    op: str
    sent: float
    seconds: float
    status: int  # 0: no answer (timeout, connection error)
    content_type: str
    retry_after: str | None
    body: str


CALL = {
    "caller_name": "Rita Radiographer",
    "callback_number": "+44 20 7946 0123",
    "serial_number": "AUR64-0042",
    "symptom": "loud bang from the gantry, then lines across the images",
    "urgency": "degraded",
}


def _operations(
    http: httpx.Client, call_id: int, queries: list[str]
) -> dict[str, Callable[[int], httpx.Response]]:
    return {
        "search": lambda i: http.post(
            "/search", json={"query": queries[i % len(queries)], "limit": 5}
        ),
        "call_search": lambda i: http.post(
            f"/calls/{call_id}/search", json={"query": queries[i % len(queries)]}
        ),
        "open_call": lambda i: http.post("/calls", json=CALL),
    }


class Load:
    """A few threads sending every operation in turn until stopped; every answer kept."""

    def __init__(self, url: str, key: str, calls: list[int]) -> None:
        self.answers: list[Answer] = []
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.workers = [
            # each thread works its own call, as a dispatcher does
            threading.Thread(target=self._drive, args=(url, key, call_id, n), daemon=True)
            for n, call_id in enumerate(calls)
        ]

    def _drive(self, url: str, key: str, call_id: int, n: int) -> None:
        queries = eval_queries()
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=HANG + 5) as http:
            ops = list(_operations(http, call_id, queries).items())
            i = n
            while not self.stopped.is_set():
                name, send = ops[i % len(ops)]
                sent = time.monotonic()
                try:
                    r = send(i)
                    answer = Answer(
                        name,
                        sent,
                        time.monotonic() - sent,
                        r.status_code,
                        r.headers.get("content-type", ""),
                        r.headers.get("retry-after"),
                        r.text[:2000],
                    )
                except httpx.HTTPError as exc:
                    answer = Answer(name, sent, time.monotonic() - sent, 0, "", None, repr(exc))
                with self.changed:
                    self.answers.append(answer)
                    self.changed.notify_all()
                i += 1
                self.stopped.wait(0.02)  # a steady load, not a flood of log lines

    def __enter__(self) -> Load:
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        for worker in self.workers:
            worker.join(timeout=HANG + 10)

    def wait_for(self, what: str, check: Callable[[list[Answer]], bool], seconds: float) -> None:
        """Block until `check` holds for the answers so far; fail after `seconds`."""
        deadline = time.monotonic() + seconds
        with self.changed:
            while not check(self.answers):
                left = deadline - time.monotonic()
                if left <= 0:
                    statuses = sorted({(a.op, a.status) for a in self.answers[-30:]})
                    pytest.fail(f"no {what} within {seconds} s; latest answers: {statuses}")
                self.changed.wait(left)


OPS = ("search", "call_search", "open_call")


def _all_ok_since(t: float) -> Callable[[list[Answer]], bool]:
    return lambda answers: (
        {a.op for a in answers if a.sent >= t and 200 <= a.status < 300} == set(OPS)
    )


@pytest.mark.postgres
def test_postgres_restart_under_load_gives_503_then_recovers(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    key = admin_key(private_postgres.url)
    env = {
        "DATABASE_URL": private_postgres.url,
        "DATA_DIR": str(tmp_path / "data"),
        "HF_HUB_OFFLINE": "1",
        "INDEX_SAVE_DELAY": "0",
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "server.log").open("w")
    proc, url = _serve_logged(env, log)
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as http:
            make_desk(http)  # type: ignore[arg-type]  # an httpx client, as TestClient is
            calls = [http.post("/calls", json=CALL) for _ in range(3)]
            assert all(c.status_code == 201 for c in calls), [c.text for c in calls]

            with Load(url, key, [c.json()["id"] for c in calls]) as load:
                load.wait_for("2xx for every operation", _all_ok_since(0), 60)

                down = time.monotonic()
                private_postgres.stop()
                # the writes (and in-call searches, which go on the call's timeline) need
                # the database: each answers 503 promptly
                load.wait_for(
                    "503 for a call write and an in-call search",
                    lambda answers: (
                        {a.op for a in answers if a.sent >= down and a.status == 503}
                        >= {"open_call", "call_search"}
                    ),
                    HANG + 5,
                )
                assert http.get("/health").status_code == 200  # see the module's docstring
                up = time.monotonic()
                private_postgres.start()
                # no restart of the service: its pool reconnects by itself
                load.wait_for("2xx again for every operation", _all_ok_since(up), RECOVERY)
                assert proc.poll() is None

            answers = load.answers
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()

    during = [a for a in answers if down <= a.sent < up]
    unavailable = [a for a in answers if a.status == 503]
    assert unavailable, "no request saw the database away"
    # nothing else went wrong at any time: 2xx or 503, each well within the bound
    assert {a.status for a in answers} <= {200, 201, 503}, sorted(
        {(a.op, a.status, a.body[:300]) for a in answers if a.status not in (200, 201, 503)}
    )
    slowest = max(answers, key=lambda a: a.seconds)
    assert slowest.seconds < HANG, slowest
    for a in unavailable:
        assert a.content_type.startswith("application/problem+json"), a
        assert int(a.retry_after or 0) > 0, a
        problem = json.loads(a.body)
        assert (problem["status"], problem["title"]) == (503, "Database unavailable"), problem
        # the driver's message (server address, port, user) stays in the log
        for secret in (str(private_postgres.port), "postgres", "psycopg", "127.0.0.1"):
            assert secret not in a.body, a.body
    # plain searches whose hit cards are cached need no database and may keep answering
    searches = {a.status for a in during if a.op == "search"}
    assert searches <= {200, 503}, searches
    print(
        f"\nwhile down: {len(during)} requests, "
        + ", ".join(f"{op} {sorted({a.status for a in during if a.op == op})}" for op in OPS)
    )


def _serve_logged(env: dict[str, str], log: IO[str]) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn on a free loopback port, its output in `log`, once /health answers."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    with httpx.Client(timeout=1) as probe:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if probe.get(f"{url}/health").status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                pass
            time.sleep(0.1)  # polling a starting process: nothing to wait on
    proc.kill()
    pytest.fail(f"the service did not start (exit {proc.poll()})")


def test_a_database_bug_stays_a_500_and_a_busy_database_is_a_503(tmp_path: Path) -> None:
    """The mapping tells "not now" from "wrong", on SQLite's real errors."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = create_engine(url, connect_args={"timeout": 0})  # no waiting for the lock
    with engine.connect() as conn, pytest.raises(OperationalError) as bug:
        conn.execute(text("select * from nowhere"))
    assert not database_unavailable(bug.value)
    with engine.connect() as holder, engine.connect() as other:
        holder.exec_driver_sql("begin immediate")
        with pytest.raises(OperationalError) as locked:
            other.exec_driver_sql("begin immediate")
        holder.rollback()
    assert database_unavailable(locked.value)
    engine.dispose()
    assert database_unavailable(PoolTimeout("QueuePool limit reached"))
