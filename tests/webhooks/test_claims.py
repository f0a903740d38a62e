"""Several workers on one database (threads of other engines, and another process) send
every delivery exactly once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.webhooks.worker import DeliveryWorker
from tests.conftest import ROOT, AppFactory
from tests.webhooks.servers import Hub, wait_until

SECRET = "s3cret-s3cret-s3cret"
CALLS = 30
RECEIVERS = 3


def test_many_workers_send_each_delivery_exactly_once(
    database_url: str, make_client: AppFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "d"
    client = make_client(database_url, data_dir, webhook_worker=False, scheduler=False)
    hub = Hub()
    for n in range(RECEIVERS):
        response = client.post(
            "/webhooks/subscriptions",
            json={"url": hub.url(f"/r{n}"), "secret": SECRET, "event_types": ["call.opened"]},
        )
        assert response.status_code == 201, response.text
    site = client.post("/sites", json={"hospital": "General"}).json()
    for _ in range(CALLS):
        response = client.post(
            "/calls",
            json={
                "caller_name": "Ann",
                "site_id": site["id"],
                "modality": "MR",
                "urgency": "degraded",
            },
        )
        assert response.status_code == 201, response.text
    expected = CALLS * RECEIVERS
    assert len(client.get("/webhooks/deliveries", params={"status": "pending"}).json()) == expected

    other = subprocess.Popen(
        [sys.executable, "-m", "tests.webhooks.worker_process", database_url, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    engines, workers = [], []
    try:
        assert other.stdout is not None
        assert other.stdin is not None
        assert other.stdout.readline().strip() == "ready"
        settings = Settings(
            database_url=database_url,
            data_dir=data_dir,
            webhook_allowed_networks=["127.0.0.1"],
            webhook_poll_seconds=0.02,
        )
        for _ in range(2):  # two more, each with its own engine (its own connections)
            engine = make_engine(database_url)
            engines.append(engine)
            workers.append(DeliveryWorker(make_sessionmaker(engine), settings=settings))
        other.stdin.write("go\n")
        other.stdin.flush()
        for worker in workers:
            worker.start()
        assert wait_until(lambda: sum(hub.deliveries().values()) >= expected, seconds=120)
        out, _ = other.communicate(timeout=120)
    finally:
        for worker in workers:
            worker.stop()
        for engine in engines:
            engine.dispose()
        other.kill()
        hub.close()

    counts = hub.deliveries()
    assert len(counts) == expected
    assert set(counts.values()) == {1}, [d for d, n in counts.items() if n > 1]
    assert hub.all_verify(SECRET)
    by_path = {path for path, _, _, _ in hub.requests}
    assert by_path == {f"/r{n}" for n in range(RECEIVERS)}
    assert int(out.strip().splitlines()[-1]) > 0, "the other process sent some"
    deliveries = client.get("/webhooks/deliveries").json()
    assert {d["status"] for d in deliveries} == {"delivered"}
    assert {d["attempts"] for d in deliveries} == {1}
