"""A process sending webhook deliveries from a shared database, for the exactly-once test:
started by the test, it waits for a line on stdin, sends until none is pending, and prints
how many attempts it made."""

from __future__ import annotations

import sys
import time

from sqlalchemy import func, select

from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.models import import_all
from app.webhooks.models import Delivery, DeliveryStatus
from app.webhooks.worker import DeliveryWorker


def main() -> None:
    """argv: DATABASE_URL, DATA_DIR (its secret.key is the app's)."""
    url, data_dir = sys.argv[1], sys.argv[2]
    import_all()
    settings = Settings(
        database_url=url,
        data_dir=data_dir,
        webhook_allowed_networks=["127.0.0.1"],
        webhook_poll_seconds=0.02,
    )
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    worker = DeliveryWorker(sessions, settings=settings)
    print("ready", flush=True)
    sys.stdin.readline()
    attempts = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        sent = worker.run_once()
        attempts += sent
        if not sent:  # the others hold the due ones: look again shortly
            time.sleep(0.02)
        with sessions() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status == DeliveryStatus.PENDING)
            )
        if not pending:
            break
    worker.stop()
    engine.dispose()
    print(attempts, flush=True)


if __name__ == "__main__":
    main()
