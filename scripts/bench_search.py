"""Search speed over HTTP from a persisted index: this checkout against others, alternating.

    python -m scripts.bench_search DATA_DIR [--rounds 3] [--seconds 10] [--tree PATH ...]
                                   [--other-data DIR] [--env NAME=VALUE ...]

Serves DATA_DIR (uvicorn, as `scripts.benchmark` does) from each checkout in turn, once
per round, and measures what the benchmark measures for our service: one client's
latency, then `--clients` concurrent clients for `--seconds` (searches/s, p99, the
server's CPU per search by thread role), and the RSS. DATA_DIR is a folder the service
already indexed with an API key in DATA_DIR/key, such as a benchmark folder kept with
`--keep` (`ours-100000`; give the settings it was built with, e.g. BODY_MAX_TOKENS, in
the environment, or the service rebuilds it). `--env` adds a setting to every server of
the run (e.g. SEARCH_CONCURRENCY=2), to compare settings on one checkout. Other
checkouts (`--tree`) need their own `.venv` (`make install`). Rounds alternate the
checkouts, so a noisy minute hits them alike. `--other-data` gives the other checkouts a
folder of their own, a copy of DATA_DIR (`cp -a`), when a change makes a checkout
rebuild part of the index (e.g. its BM25 fields). Prints a line per run, the medians and
one JSON line. No baseline: `scripts.benchmark` measures the comparison with a plain service.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from scripts.benchmark import (
    add_other_data,
    checkout_name,
    checkouts,
    cpu_seconds,
    data_folders,
    eval_queries,
    http_concurrent,
    http_single,
    machine,
    pct,
    rss_mb,
    serve,
    server_env,
    thread_cpu,
)


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def measure(
    data_dir: Path,
    tree: Path | None,
    env: dict[str, str],
    *,
    key: str,
    clients: int,
    seconds: float,
    warmup: int,
    requests: int,
) -> dict[str, Any]:
    """One server from `tree` (None: this checkout): its figures."""
    queries = eval_queries()
    headers = {"X-API-Key": key}
    proc, url, startup = serve("app.main:app", {**server_env(data_dir), **env}, tree=tree)
    try:
        # every query's hit cards are made once before anything is timed
        http_single(url, headers, queries, warmup)
        single = http_single(url, headers, queries, requests)
        cpu, threads = cpu_seconds(proc.pid), thread_cpu(proc.pid)
        per_s, latencies, _ = http_concurrent(url, headers, queries, clients, seconds)
        cpu = cpu_seconds(proc.pid) - cpu
        by_role = {
            role: 1000 * (spent - threads.get(role, 0.0)) / len(latencies)
            for role, spent in thread_cpu(proc.pid).items()
        }
        rss = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "startup_s": round(startup, 2),
        "http1_ms": {p: round(pct(single, p), 2) for p in (50, 99)},
        "per_s": round(per_s, 1),
        "p99_ms": round(pct(latencies, 99), 1),
        "server_cpu_ms": round(1000 * cpu / len(latencies), 2),
        "server_cpu_ms_by_thread": {
            role: round(ms, 2)
            for role, ms in sorted(by_role.items(), key=lambda kv: -kv[1])
            if ms >= 0.005  # idle threads left out
        },
        "rss_mib": round(rss, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure every checkout, round after round, and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=400, help="searches before timing")
    parser.add_argument("--requests", type=int, default=300, help="one client's searches")
    parser.add_argument(
        "--tree", type=Path, action="append", default=[], help="another checkout to compare"
    )
    add_other_data(parser)
    parser.add_argument(
        "--env", type=_setting, action="append", default=[], help="NAME=VALUE for the servers"
    )
    args = parser.parse_args(argv)
    trees = checkouts(parser, args.data_dir, args.tree)
    folders = data_folders(parser, args.data_dir, args.other_data, trees)
    keys: dict[Path, str] = {}
    for folder in set(folders.values()):
        if not (folder / "key").exists():
            parser.error(f"{folder} has no API key file (key), as the benchmark leaves")
        keys[folder] = (folder / "key").read_text().strip()
    env = dict(args.env)
    runs: dict[str, list[dict[str, Any]]] = {checkout_name(t): [] for t in trees}
    for round_ in range(1, args.rounds + 1):
        for tree in trees:
            name = checkout_name(tree)
            figures = measure(
                folders[tree],
                tree,
                env,
                key=keys[folders[tree]],
                clients=args.clients,
                seconds=args.seconds,
                warmup=args.warmup,
                requests=args.requests,
            )
            runs[name].append(figures)
            print(
                f"round {round_}: {name}: {figures['per_s']} /s, p99 {figures['p99_ms']} ms "
                f"({args.clients} clients); 1 client p50 {figures['http1_ms'][50]} ms; "
                f"CPU per search {figures['server_cpu_ms']} ms "
                f"{figures['server_cpu_ms_by_thread']}; RSS {figures['rss_mib']} MiB",
                file=sys.stderr,
            )
    for name, done in runs.items():
        per_s = [f["per_s"] for f in done]
        p99 = [f["p99_ms"] for f in done]
        print(
            f"{name}: median {statistics.median(per_s):.1f} searches/s "
            f"({' '.join(map(str, per_s))}), p99 median {statistics.median(p99):.1f} ms"
        )
    print(
        json.dumps(
            {
                "benchmark": "search",
                "machine": machine(),
                "data_dir": {checkout_name(t): str(f) for t, f in folders.items()},
                "clients": args.clients,
                "seconds": args.seconds,
                "env": env,
                "results": {
                    name: {
                        "median_per_s": statistics.median(f["per_s"] for f in done),
                        "runs": done,
                    }
                    for name, done in runs.items()
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
