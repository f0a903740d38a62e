import json
import os
import time
from pathlib import Path

import pytest

from embeddings.encoder import Encoder, OnnxInt8Encoder
from embeddings.pool import WorkPool
from scripts.benchmark import machine, thread_cpu


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


ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu avx avx2 fma
"""


def test_machine_names_the_cpu_and_its_int8_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    plain = machine(ZEN3)
    assert plain["cpu"] == "AMD EPYC"
    assert (plain["cpu_family"], plain["model"]) == (25, 1)
    assert plain["int8_scheme"] == "avx2"
    assert plain["cores"] == os.cpu_count()
    vnni = machine(ZEN3.replace("model\t\t: 1", "model\t\t: 17").replace("fma", "fma avx512_vnni"))
    assert (vnni["model"], vnni["int8_scheme"]) == (17, "avx512_vnni")
    assert machine("")["cpu"] == "unknown"


def test_bench_startup_folder_without_index_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.bench_startup import main

    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path)])
    assert stopped.value.code == 2
    assert "holds no persisted index" in capsys.readouterr().err


@pytest.mark.slow  # loads the seed library in a subprocess (docs/testing.md)
def test_bench_startup_times_this_checkout_from_its_index(
    encoder: Encoder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One real start-up of the service on a small indexed folder: a time, a JSON line."""
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


@pytest.mark.slow  # loads the seed library in a subprocess (docs/testing.md)
def test_baseline_vectors_from_index_are_our_headline_vectors_of_the_articles(
    encoder: Encoder, tmp_path: Path
) -> None:
    import numpy as np
    from sqlalchemy.orm import Session

    from app.articles.models import Article
    from app.config import Settings
    from app.db import make_engine
    from app.search.documents import headline_text
    from scripts.benchmark import baseline_vectors_from_index

    _indexed_folder(encoder, tmp_path)
    baseline_vectors_from_index(tmp_path, tmp_path / "baseline")
    ids = json.loads((tmp_path / "baseline" / "ids.json").read_text())
    vectors = np.load(tmp_path / "baseline" / "vectors.npy")
    assert len(ids) == len(vectors) >= 100
    engine = make_engine(Settings(data_dir=tmp_path, database_url=None).effective_database_url)
    with Session(engine) as session:
        for row in (0, len(ids) // 2, len(ids) - 1):
            article = session.get(Article, ids[row])
            assert article is not None
            # the baseline's row is that article's title and issue, as it would embed them
            # (0.98: int8 activations are scaled per batch, and the ingest encoded batches)
            assert float(encoder.encode([headline_text(article)])[0] @ vectors[row]) > 0.98
    engine.dispose()


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


@pytest.mark.parametrize("script", ["bench_search", "bench_startup"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--other-data", "copy"], "folder of the --tree checkouts: give one"),
        (["--other-data", "copy", "--tree", "."], "copy holds no persisted index"),
    ],
)
def test_bench_other_data_without_its_use_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    script: str,
    args: list[str],
    message: str,
) -> None:
    import importlib

    main = importlib.import_module(f"scripts.{script}").main
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


@pytest.mark.slow  # loads the seed library in a subprocess (docs/testing.md)
def test_bench_search_measures_this_checkout_with_the_given_settings(
    encoder: Encoder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One short real run over HTTP on a small indexed folder: figures and a JSON line."""
    from app.auth.service import bootstrap_admin
    from app.config import Settings
    from app.db import make_engine, make_sessionmaker, transaction
    from scripts.bench_search import main

    _indexed_folder(encoder, tmp_path)
    with pytest.raises(SystemExit) as stopped:  # the folder has no key file yet
        main([str(tmp_path)])
    assert stopped.value.code == 2
    assert "no API key file" in capsys.readouterr().err
    engine = make_engine(Settings(data_dir=tmp_path, database_url=None).effective_database_url)
    with transaction(make_sessionmaker(engine)) as session:
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
