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

    from scripts.bench_startup import main

    _indexed_folder(encoder, tmp_path)
    assert main([str(tmp_path), "--runs", "1"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    seconds = result["results"]["this checkout"]["runs_s"][0]
    assert result["benchmark"] == "startup"
    assert 0 < seconds < 120


def _indexed_folder(encoder: Encoder, folder: Path) -> None:
    """The seed library loaded and indexed in `folder`, as `make load` does."""
    import shutil
    import subprocess
    import sys

    if isinstance(encoder, OnnxInt8Encoder):  # its export: the folder need not make one
        shutil.copytree(encoder.folder, folder / "models" / encoder.folder.name)
    env = {**os.environ, "DATA_DIR": str(folder), "DATABASE_URL": "", "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "scripts.load_knowledge"], env=env, check=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "holds no persisted index"),
        (["--env", "SEARCH_CONCURRENCY"], "expected NAME=VALUE"),
    ],
)
def test_bench_search_bad_arguments_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from scripts.bench_search import main

    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path), *args])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--other-data", "copy"], "folder of the --tree checkouts: give one"),
        (["--other-data", "copy", "--tree", "."], "copy holds no persisted index"),
    ],
)
def test_bench_search_other_data_without_its_use_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    from scripts.bench_search import main

    (tmp_path / "data" / "index").mkdir(parents=True)
    (tmp_path / "data" / "index" / "manifest.json").write_text("{}")
    (tmp_path / "data" / "key").write_text("k")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)  # "." passes as a checkout
    (tmp_path / ".venv" / "bin" / "python").write_text("")
    with pytest.raises(SystemExit) as stopped:
        main(["data", *args])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_bench_search_measures_this_checkout_with_the_given_settings(
    encoder: Encoder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One short real run over HTTP on a small indexed folder: figures and a JSON line."""
    import json

    from app.auth.service import bootstrap_admin
    from app.config import Settings
    from app.db import make_engine, make_sessionmaker
    from scripts.bench_search import main

    _indexed_folder(encoder, tmp_path)
    with pytest.raises(SystemExit) as stopped:  # the folder has no key file yet
        main([str(tmp_path)])
    assert stopped.value.code == 2
    assert "no API key file" in capsys.readouterr().err
    engine = make_engine(Settings(data_dir=tmp_path, database_url=None).effective_database_url)
    with make_sessionmaker(engine)() as session:
        key = bootstrap_admin(session=session, name="bench", only_if_empty=False)
    (tmp_path / "key").write_text(key or "")
    engine.dispose()

    args = ["--rounds", "1", "--seconds", "1", "--clients", "2", "--warmup", "5"]
    assert main([str(tmp_path), *args, "--requests", "5", "--env", "SEARCH_CONCURRENCY=2"]) == 0

    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    (run,) = result["results"]["this checkout"]["runs"]
    assert result["benchmark"] == "search"
    assert result["env"] == {"SEARCH_CONCURRENCY": "2"}
    assert run["per_s"] > 0
    assert 0 < run["http1_ms"]["50"] <= run["http1_ms"]["99"]
    assert run["server_cpu_ms_by_thread"]["search"] > 0
    assert run["rss_mib"] > 0
