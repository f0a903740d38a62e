"""Index folders for several processes in one data folder: each takes the first free one.

A process's search index lives in memory and is saved to a folder of its own (the BM25
lane allows one writer per folder). Processes sharing DATA_DIR (`uvicorn --workers N`,
replicas on one machine) each hold a lock on one folder: `index`, then `index-2`,
`index-3`... A restarted process usually finds its old folder free again and loads it; a
new folder is built from the database. The lock (`app.db.lock_file`) goes with the
process, a crash included, and apps opened in turn in one process (tests) share a folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from app.db import lock_file

log = logging.getLogger(__name__)

MOST_SLOTS = 64


@dataclass
class IndexSlot:
    """An index folder this process holds until `release`."""

    path: Path
    number: int
    _lock: IO[bytes] | None = field(default=None, repr=False)

    def release(self) -> None:
        """Let another process take the folder."""
        if self._lock is not None:
            self._lock.close()  # closing the file drops its lock
            self._lock = None


def slot_path(base: Path, number: int) -> Path:
    """The folder of slot `number` (1 is `base` itself)."""
    return base if number == 1 else base.with_name(f"{base.name}-{number}")


def claim(base: Path, *, most: int = MOST_SLOTS) -> IndexSlot:
    """Take the first index folder no other process holds."""
    base.parent.mkdir(parents=True, exist_ok=True)
    for number in range(1, most + 1):
        path = slot_path(base, number)
        lock = lock_file(path.with_name(f"{path.name}.lock"))
        if lock is None:
            continue
        if number > 1:
            state = "saved" if (path / "manifest.json").exists() else "new"
            log.info("search index folder %s (%s): the folders before it are in use", path, state)
        return IndexSlot(path, number, lock)
    raise RuntimeError(
        f"all {most} search index folders beside {base} are held by running processes"
    )
