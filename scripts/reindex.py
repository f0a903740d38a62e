"""Rebuild the search index from the database (drop it and embed every published article).

python -m scripts.reindex
"""

from __future__ import annotations

import argparse
import time

from app.search.setup import tqdm_progress
from scripts.context import open_context


def main(argv: list[str] | None = None) -> int:
    """Full rebuild with a progress bar; prints articles per second."""
    # parsed even without options, so that --help explains instead of rebuilding
    argparse.ArgumentParser(
        description="Rebuild the search index of DATA_DIR / DATABASE_URL from the database: "
        "drop it and embed every published article again."
    ).parse_args(argv)
    with open_context(sync=False) as ctx:
        progress, close = tqdm_progress("reindexing")
        started = time.perf_counter()
        try:
            report = ctx.index.rebuild(ctx.sessions, progress=progress)
        finally:
            close()
        took = time.perf_counter() - started
        n = len(ctx.index)
        print(f"indexed {n} articles in {took:.1f} s ({n / took if took else 0:.0f}/s); {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
