"""Real processes: `uvicorn --workers N` on PostgreSQL, and SQLite's one process."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.db import make_engine, migrate
from embeddings.encoder import Encoder
from tests.conftest import article_payload
from tests.processes import admin_key, free_port, serve, share_model, stop, wait_healthy

pytestmark = pytest.mark.slow


@pytest.mark.postgres
def test_uvicorn_workers_share_one_postgres_and_see_each_others_writes(
    postgres_url: str, encoder: Encoder, tmp_path: Path
) -> None:
    key = admin_key(postgres_url)
    data_dir = tmp_path / "data"
    share_model(encoder, data_dir)
    port, log = free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    server = serve(
        {"DATABASE_URL": postgres_url, "DATA_DIR": str(data_dir)}, port=port, log=log, workers=2
    )
    try:
        wait_healthy(url, server, log)
        # a new connection per request: the workers take turns accepting them
        replicas: set[str] = set()
        deadline = time.monotonic() + 120
        while len(replicas) < 2 and time.monotonic() < deadline:
            health = httpx.get(f"{url}/health", timeout=5)
            if health.status_code == 200:
                replicas.add(health.json()["replica"])
        assert len(replicas) == 2, f"one worker answered: {replicas}\n{log.read_text()}"
        assert (data_dir / "index").is_dir()
        assert (data_dir / "index-2").is_dir()

        headers = {"X-API-Key": key}
        created = httpx.post(f"{url}/articles", json=article_payload(), headers=headers)
        assert created.status_code == 201, created.text
        slug, acknowledged = created.json()["slug"], time.monotonic()

        # each worker says, on /health, how many articles its own index holds
        counts: dict[str, int] = {}
        while min(counts.values(), default=0) < 1 or len(counts) < 2:
            assert time.monotonic() - acknowledged < 1.0, f"not in every worker: {counts}"
            health = httpx.get(f"{url}/health", timeout=5).json()
            counts[health["replica"]] = health["searchable_articles"]
        for _ in range(10):
            response = httpx.post(
                f"{url}/search",
                json={"query": "grinding noise when the gantry spins"},
                headers=headers,
                timeout=5,
            )
            assert response.status_code == 200, response.text
            assert slug in [r["slug"] for r in response.json()["results"]]
    finally:
        stop(server)
    assert "Traceback" not in log.read_text(), log.read_text()


def test_a_second_process_on_one_sqlite_database_is_refused(
    encoder: Encoder, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    share_model(encoder, data_dir)
    url = Settings(data_dir=data_dir).effective_database_url
    admin_key(url)
    env = {"DATA_DIR": str(data_dir), "DATABASE_URL": ""}
    first_port, first_log = free_port(), tmp_path / "first.log"
    first = serve(env, port=first_port, log=first_log)
    try:
        wait_healthy(f"http://127.0.0.1:{first_port}", first, first_log)
        second_log = tmp_path / "second.log"
        second = serve(env, port=free_port(), log=second_log)
        try:
            assert second.wait(timeout=120) != 0
        finally:
            stop(second)
        said = second_log.read_text()
        assert "already served by process" in said, said
        assert "DATABASE_URL" in said
        assert "PostgreSQL" in said
        # the first one goes on serving
        assert httpx.get(f"http://127.0.0.1:{first_port}/health").status_code == 200
    finally:
        stop(first)


@pytest.mark.postgres
def test_processes_starting_together_migrate_once(postgres_url: str) -> None:
    """Two processes migrating one new database at the same moment both start."""
    import threading

    engines = [make_engine(postgres_url) for _ in range(2)]
    failures: list[BaseException] = []
    barrier = threading.Barrier(2)

    def start(n: int) -> None:
        try:
            barrier.wait()
            migrate(engines[n])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    assert failures == []
