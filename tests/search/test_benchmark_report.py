import os
import time
from pathlib import Path

import pytest

from embeddings.pool import WorkPool
from scripts.benchmark import thread_cpu


def test_thread_cpu_attributes_search_work_to_the_search_threads() -> None:
    if not Path(f"/proc/{os.getpid()}/task").exists():
        pytest.skip("no /proc on this system")
    pool = WorkPool(1, name="search")

    def burn() -> None:
        end = time.thread_time() + 0.3
        while time.thread_time() < end:
            pass

    before = thread_cpu(os.getpid())
    pool.run(burn)
    after = thread_cpu(os.getpid())
    pool.close()
    spent = after["search"] - before.get("search", 0.0)
    assert 0.2 <= spent <= 1.0, spent
    assert "event_loop" in after  # the main thread
