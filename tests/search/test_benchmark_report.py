import os
import time
from pathlib import Path

import pytest

from embeddings.encoder import Encoder, OnnxInt8Encoder
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


def test_bench_startup_folder_without_index_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.bench_startup import main

    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path)])
    assert stopped.value.code == 2
    assert "holds no persisted index" in capsys.readouterr().err


def test_bench_startup_times_this_checkout_from_its_index(
    encoder: Encoder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One real start-up of the service on a small indexed folder: a time, a JSON line."""
    import json
    import shutil
    import subprocess
    import sys

    from scripts.bench_startup import main

    if isinstance(encoder, OnnxInt8Encoder):  # its export: the folder need not make one
        shutil.copytree(encoder.folder, tmp_path / "models" / encoder.folder.name)
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DATABASE_URL": "", "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "scripts.load_knowledge"], env=env, check=True)
    assert main([str(tmp_path), "--runs", "1"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    seconds = result["results"]["this checkout"]["runs_s"][0]
    assert result["benchmark"] == "startup"
    assert 0 < seconds < 120
