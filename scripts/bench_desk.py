"""A service desk's load against a running service: open-loop arrivals or a stress mix.

    python -m scripts.bench_desk --url http://127.0.0.1:8000 --key KEY --mode open|stress
        [--seconds 300] [--clients 16] [--scale 1.0] [--json-only]
    python -m scripts.bench_desk --start --mode open [--seconds 30] [--data-dir DIR]

`open`: arrivals on a clock, whatever the service's speed (a desk's callers do not wait
for the previous answer): 5 in-call searches/s, 2 call writes/s (open a call, record an
attempt, add a note, in turn), 20 plain searches/s from integrations and one article edit
every 10 s (`--scale` multiplies every rate). Latency is measured from each request's
scheduled time, so time spent queued behind a slow answer counts (no coordinated
omission). `stress`: `--clients` clients without pause, each cycling through searches, in-
call searches, call writes, an escalation and an article edit.

The key must be an admin's: the script sets up its own people, keys, site, scanner, calls
and articles (named `Bench <run>`; several dispatchers, integrations and engineers, each
with a key, so that no key passes the per-key rate limit), and imports the seed library
when the service has no searchable article. Queries are the evaluation queries
(knowledge/eval/queries.jsonl), each cycle with a different context phrase, so that every
search pays for its encode as a new question would. A call is worked by one request at a
time, as by its dispatcher. `--start` serves the app itself on a new DATA_DIR (SQLite, or the
database DATABASE_URL names) with a new admin key.

Prints per operation: count, p50 and p99 of the answered requests, errors by status,
achieved rate; the CPU (model, family/model, int8 kind); and one JSON line at the end.
The requests are written by a light HTTP/1.1 client on one asyncio loop
(scripts/desk_load.py, as scripts/loadgen.py: the clients share the machine with the
service).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from scripts.desk_load import GROUPS, Client, Desk, Load, percentile_ms, set_up

# the open loop's arrivals per second (issue 21's desk)
RATES = {"call_search": 5.0, "call_write": 2.0, "search": 20.0, "article_edit": 0.1}
# one stress client's cycle: searches, in-call searches, call writes, an escalation (its
# open, search and attempt are counted under their own names) and an article edit
STRESS_CYCLE = [
    "search",
    "call_search",
    "search",
    "open_call",
    "search",
    "call_search",
    "attempt",
    "search",
    "note",
    "call_search",
    "search",
    "escalate",
    "search",
    "call_search",
    "open_call",
    "search",
    "note",
    "call_search",
    "article_edit",
    "attempt",
]


async def open_loop(load: Load, seconds: float, scale: float) -> dict[str, float]:
    """Arrivals on a fixed clock per operation; returns the target rates."""
    rates = {op: rate * scale for op, rate in RATES.items()}
    senders: dict[str, Callable[[float], Coroutine[Any, Any, None]]] = {
        "call_search": lambda at: load.call_search(at),
        "call_write": lambda at: load.call_write(at),
        "search": lambda at: load.search(at),
        "article_edit": lambda at: load.article_edit(at),
    }
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.1

    async def arrivals(op: str, phase: float) -> None:
        interval = 1 / rates[op]
        for k in itertools.count():
            at = start + phase + k * interval
            if at >= start + seconds:
                return
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            task = asyncio.create_task(senders[op](at))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    # the streams' phases differ, so their arrivals do not coincide
    phases = {op: min(0.5, n / len(rates) / rates[op]) for n, op in enumerate(rates)}
    await asyncio.gather(*(arrivals(op, phases[op]) for op in rates if rates[op] > 0))
    if tasks:
        await asyncio.wait(tasks)
    return rates


async def stress(load: Load, seconds: float, clients: int) -> None:
    """`clients` clients without pause, each through STRESS_CYCLE from its own place."""
    stop = time.perf_counter() + seconds

    async def client(c: int) -> None:
        steps: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
            "search": load.search,
            "call_search": load.call_search,
            "open_call": load.open_call,
            "attempt": load.attempt,
            "note": load.note,
            "escalate": load.escalate,
            # each client edits its own article: no two edits race for one version
            "article_edit": lambda: load.article_edit(n=c % len(load.desk.articles)),
        }
        for step in itertools.islice(itertools.cycle(STRESS_CYCLE), c, None):
            if time.perf_counter() >= stop:
                return
            await steps[step]()

    await asyncio.gather(*(client(c) for c in range(clients)))


# -- the run and its report ---------------------------------------------------------------


def load_average() -> float | None:
    """The machine's 1-minute load average (the machine may be shared)."""
    with contextlib.suppress(OSError):
        return float(Path("/proc/loadavg").read_text().split()[0])
    return None


def report(
    load: Load, mode: str, seconds: float, elapsed: float, rates: dict[str, float]
) -> dict[str, Any]:
    """The figures, per operation and in total."""
    ops: dict[str, Any] = {}
    order = [
        "search",
        "call_search",
        "call_write",
        "open_call",
        "attempt",
        "note",
        "escalate",
        "article_edit",
    ]
    for op in sorted(load.stats, key=lambda o: order.index(o) if o in order else len(order)):
        s = load.stats[op]
        ops[op] = {
            "count": s.sent,
            "p50_ms": percentile_ms(s.latencies, 50),
            "p99_ms": percentile_ms(s.latencies, 99),
            "max_ms": percentile_ms(s.latencies, 100),
            "errors": dict(s.errors),
            "per_s": round(s.sent / elapsed, 2),
        }
        if op in rates:
            ops[op]["target_per_s"] = round(rates[op], 2)
        if s.example:
            ops[op]["error_example"] = s.example
    total = sum(s.sent for op, s in load.stats.items() if op not in GROUPS.values())
    out: dict[str, Any] = {
        "mode": mode,
        "seconds": seconds,
        "elapsed_s": round(elapsed, 1),
        "requests_per_s": round(total / elapsed, 1),
        "errors": sum(
            sum(s.errors.values()) for op, s in load.stats.items() if op not in GROUPS.values()
        ),
        "operations": ops,
    }
    if load.lag:
        out["client_lag_p99_ms"] = percentile_ms(load.lag, 99)
    return out


def print_report(result: dict[str, Any]) -> None:
    """A table of the figures, and what they were measured on."""
    m = result["machine"]
    where = f"family {m.get('cpu_family', '?')}, model {m.get('model', '?')}"
    on = f" ({result['database']})" if "database" in result else ""
    print(f"desk load, {result['mode']}, {result['seconds']:g} s against {result['url']}{on}")
    print(f"CPU: {m['cpu']} ({where}), {m['cores']} cores, int8 {m['int8_scheme']}")
    print(f"load average: before {result['load_before']}, after {result['load_after']}")
    columns = ("target/s", 9), ("got/s", 8), ("count", 7), ("p50 ms", 9), ("p99 ms", 9)
    print(f"{'operation':<14}" + "".join(f"{n:>{w}}" for n, w in columns) + "  errors")
    for op, s in result["operations"].items():
        errors = ", ".join(f"{k}x{v}" for k, v in s["errors"].items()) or "-"
        target = f"{s['target_per_s']:.2f}" if "target_per_s" in s else ""
        p50 = "-" if s["p50_ms"] is None else f"{s['p50_ms']:.0f}"
        p99 = "-" if s["p99_ms"] is None else f"{s['p99_ms']:.0f}"
        print(f"{op:<14}{target:>9}{s['per_s']:>8.2f}{s['count']:>7}{p50:>9}{p99:>9}  {errors}")
    print(f"total: {result['requests_per_s']} requests/s, {result['errors']} errors")
    for op, s in result["operations"].items():
        if "error_example" in s:
            print(f"  {op}: e.g. {s['error_example']}")
    if "server_cpu_cores" in result:
        cores = result["server_cpu_cores"]
        print(f"service process CPU: {cores} cores on average (the database's not included)")


async def run_load(
    url: str, desk: Desk, mode: str, seconds: float, clients: int, scale: float, timeout: float
) -> tuple[Load, float, dict[str, float]]:
    """Warm up (one of each), then the measured load; returns (load, elapsed, rates)."""
    from scripts.benchmark import eval_queries

    client = Client(url, timeout)
    try:
        warm = Load(client, desk, eval_queries())
        for step in (warm.search, warm.call_search, warm.call_write, warm.article_edit):
            await step()
        load = Load(client, desk, eval_queries())
        load.counter = warm.counter
        started = time.perf_counter()
        rates: dict[str, float] = {}
        if mode == "open":
            rates = await open_loop(load, seconds, scale)
        else:
            await stress(load, seconds, clients)
        return load, time.perf_counter() - started, rates
    finally:
        client.close()


@contextlib.contextmanager
def local_server(data_dir: Path | None) -> Iterator[tuple[str, str, int, str]]:
    """Serve the app on a free port (SQLite in DATA_DIR, or DATABASE_URL's database) with
    a new admin key; yields (url, key, pid, database)."""
    from app.auth import service as auth_service
    from app.db import make_engine, make_sessionmaker, migrate, transaction
    from scripts.benchmark import serve

    folder = data_dir or Path(tempfile.mkdtemp(prefix="bench-desk-"))
    database = os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'helpdesk.db'}"
    engine = make_engine(database)
    migrate(engine)
    with transaction(make_sessionmaker(engine)) as session:
        key = auth_service.bootstrap_admin(session=session, name="Bench admin", only_if_empty=False)
    engine.dispose()
    assert key
    env = {"DATA_DIR": str(folder), "DATABASE_URL": database, "HF_HUB_OFFLINE": "1"}
    proc, url, _ = serve("app.main:app", env)
    try:
        yield url, key, proc.pid, database.split(":", 1)[0].split("+")[0]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if data_dir is None:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Set up, run the load, print the report and its JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", help="the service (or its load balancer)")
    parser.add_argument("--key", help="an admin's API key")
    parser.add_argument("--mode", choices=["open", "stress"], default="open")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--clients", type=int, default=16, help="stress clients")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the open rates")
    parser.add_argument("--timeout", type=float, default=60, help="seconds for one answer")
    parser.add_argument("--start", action="store_true", help="serve the app locally first")
    parser.add_argument("--data-dir", type=Path, help="with --start: the DATA_DIR (kept)")
    parser.add_argument("--no-seed", action="store_true", help="never import the seed library")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if not args.start and not (args.url and args.key):
        parser.error("give --url and --key, or --start")
    if args.seconds <= 0 or args.clients < 1 or args.scale <= 0:
        parser.error("--seconds, --clients and --scale must be positive")
    from scripts.benchmark import cpu_seconds, machine

    with contextlib.ExitStack() as stack:
        pid, database = None, None
        url, key = args.url, args.key
        if args.start:
            url, key, pid, database = stack.enter_context(local_server(args.data_dir))
        articles = args.clients if args.mode == "stress" else 3
        # enough keys that none passes the service's per-key rate limit (600/minute)
        people = max(8, args.clients) if args.mode == "stress" else 8
        desk = set_up(url, key, articles=articles, people=people, seed=not args.no_seed)
        before, cpu_before = load_average(), cpu_seconds(pid) if pid else 0.0
        load, elapsed, rates = asyncio.run(
            run_load(url, desk, args.mode, args.seconds, args.clients, args.scale, args.timeout)
        )
        result = {
            "benchmark": "desk",
            "url": url,
            **report(load, args.mode, args.seconds, elapsed, rates),
        }
        if pid:
            result["server_cpu_cores"] = round((cpu_seconds(pid) - cpu_before) / elapsed, 2)
    result |= {"machine": machine(), "load_before": before, "load_after": load_average()}
    if database:
        result["database"] = database
    if not args.json_only:
        print_report(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
