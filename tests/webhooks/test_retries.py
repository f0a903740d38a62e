"""Deliveries retry with capped back-off for a day, then fail and can be re-delivered; a
receiver that hangs does not hold up the deliveries to another."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import Settings
from app.webhooks.worker import current_round, next_attempt
from tests.conftest import AppFactory
from tests.webhooks.servers import Hub, open_call, subscribed, wait_until


def test_the_default_schedule_retries_for_a_day_at_most_an_hour_apart() -> None:
    settings = Settings()
    start = now = datetime(2026, 1, 1, tzinfo=UTC)
    tries = [now]
    while True:
        retry = next_attempt(
            failures=len(tries),
            first_at=start,
            now=now,
            backoff_seconds=settings.webhook_backoff_seconds,
            max_backoff_seconds=settings.webhook_backoff_max_seconds,
            retry_seconds=settings.webhook_retry_hours * 3600,
        )
        if retry is None:
            break
        now = retry
        tries.append(now)
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert tries[-1] - start == timedelta(hours=24), "the last try at the end of the day"
    assert gaps[0] == timedelta(seconds=2)
    assert gaps == sorted(gaps[:-1]) + gaps[-1:], "the waits grow (the last is what is left)"
    assert max(gaps) == timedelta(hours=1)
    assert 30 <= len(tries) <= 40


def test_a_failing_delivery_is_retried_for_the_window_then_failed_then_redeliverable(
    database_url: str, make_client: AppFactory, hub: Hub
) -> None:
    hub.status = 503
    window = 1.5
    client = make_client(
        database_url,
        webhook_poll_seconds=0.05,
        webhook_backoff_seconds=0.05,
        webhook_backoff_max_seconds=0.2,
        webhook_retry_hours=window / 3600,
    )
    subscribed(client, hub.url())
    open_call(client)

    def delivery() -> dict[str, Any]:
        newest: dict[str, Any] = client.get("/webhooks/deliveries").json()[0]
        return newest

    assert wait_until(lambda: delivery()["status"] == "failed", seconds=20)
    failed = delivery()
    log = failed["attempt_log"]
    assert failed["last_error"] == "receiver answered 503"
    assert len(log) >= 5, "retried every 0.2 s at most, for 1.5 s"
    ats = [datetime.fromisoformat(a["at"]) for a in log]
    assert ats[-1] - ats[0] >= timedelta(seconds=window * 0.95)
    assert max(b - a for a, b in itertools.pairwise(ats)) < timedelta(seconds=1.2)
    assert len(hub.requests) == len(log)

    hub.status = 204
    again = client.post(f"/webhooks/deliveries/{failed['id']}/redeliver")
    assert again.status_code == 200
    assert wait_until(lambda: delivery()["status"] == "delivered")
    done = delivery()
    assert done["attempts"] == len(done["attempt_log"]) == len(log) + 1


def test_a_redelivery_after_the_window_starts_a_new_round_of_tries() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    day = 24 * 3600

    def at(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    def round_of(*attempts: tuple[float, bool]) -> tuple[datetime, int]:
        log = [(at(s), ok) for s, ok in attempts]
        return current_round(log, retry_seconds=day, late_seconds=12)

    assert round_of((0, False)) == (at(0), 1)
    assert round_of((0, False), (2, False), (6, False)) == (at(0), 3)
    # the last try, due at the window's end, made a little late: the same round
    assert round_of((0, False), (day + 5, False)) == (at(0), 2)
    # failed, then re-delivered the next week: a new round
    assert round_of((0, False), (day, False), (8 * day, False)) == (at(8 * day), 1)
    # delivered, then re-delivered (the receiver lost it) and refused: a new round
    assert round_of((0, True), (60, False)) == (at(60), 1)
    assert round_of((0, True), (60, False), (62, False)) == (at(60), 2)


def test_a_hanging_receiver_does_not_hold_up_another(
    database_url: str, make_client: AppFactory
) -> None:
    stuck, healthy = Hub(), Hub()
    stuck.hang = True
    try:
        client = make_client(database_url, webhook_poll_seconds=0.05, webhook_timeout_seconds=30)
        subscribed(client, stuck.url())
        subscribed(client, healthy.url())
        for n in range(1, 4):
            opened = time.monotonic()
            call_id = open_call(client)
            assert wait_until(lambda: len(healthy.requests) == n, seconds=10)  # noqa: B023
            took = healthy.requests[-1][3] - opened
            assert took < 5, f"delivery {n} to the healthy receiver took {took:.1f} s"
            assert json.loads(healthy.requests[-1][2])["data"]["call_id"] == call_id
        assert stuck.hanging == 1, "the stuck receiver holds its first delivery still"
    finally:
        stuck.close()
        healthy.close()
