"""Start-up time from a persisted index: this checkout against others, alternating.

    python -m scripts.bench_startup DATA_DIR [--runs 5] [--tree PATH ...] [--other-data DIR]

Starts the service (uvicorn, as `scripts.benchmark` does) on DATA_DIR `--runs` times
for each checkout, in turn, and times each from the process's start to `/health`
answering. DATA_DIR is a folder the service already indexed, e.g. a benchmark folder
kept with `--keep` (`ours-100000`; give the settings it was built with, such as
BODY_MAX_TOKENS, in the environment, or the service rebuilds it). Other checkouts
(`--tree`) need their own `.venv` (`make install`); alternating runs see the same
machine. `--other-data` gives the other checkouts a folder of their own, a copy of
DATA_DIR (`cp -a`), when their index format differs (a start rewrites or rebuilds what
it cannot read). Prints the times, their medians and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from scripts.benchmark import (
    add_other_data,
    checkout_name,
    checkouts,
    data_folders,
    serve,
    server_env,
)


def main(argv: list[str] | None = None) -> int:
    """Time the start-ups and print them."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--tree", type=Path, action="append", default=[], help="another checkout to compare"
    )
    add_other_data(parser)
    args = parser.parse_args(argv)
    trees = checkouts(parser, args.data_dir, args.tree)
    folders = data_folders(parser, args.data_dir, args.other_data, trees)
    times: dict[str, list[float]] = {checkout_name(t): [] for t in trees}
    for run in range(1, args.runs + 1):
        for tree in trees:
            proc, _, seconds = serve("app.main:app", server_env(folders[tree]), tree=tree)
            proc.terminate()
            proc.wait(timeout=30)
            name = checkout_name(tree)
            times[name].append(seconds)
            print(f"run {run}: {name} {seconds:.2f} s", file=sys.stderr)
            time.sleep(0.5)  # let the stopped process's memory go back
    for name, values in times.items():
        line = " ".join(f"{v:.2f}" for v in values)
        print(f"{name}: median {statistics.median(values):.2f} s ({line})")
    result = {
        name: {"median_s": round(statistics.median(v), 2), "runs_s": [round(x, 2) for x in v]}
        for name, v in times.items()
    }
    print(json.dumps({"benchmark": "startup", "data_dir": str(args.data_dir), "results": result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
