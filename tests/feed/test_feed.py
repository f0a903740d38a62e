"""Several processes on one database: each follows the others' committed changes through
the change feed (search index, hit cards, verified keys)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.articles import service as article_service
from app.articles.schemas import ArticleCreate
from app.db import make_engine, make_sessionmaker, transaction
from app.feed import service as feed_service
from app.feed.models import Change, Topic
from tests.conftest import AppFactory, article_payload, key_for

# the bound for a change made through one process to show in every other
VISIBLE_WITHIN = 1.0


def _slugs(client: TestClient, query: str) -> list[str]:
    response = client.post("/search", json={"query": query, "limit": 10})
    assert response.status_code == 200, response.text
    return [r["slug"] for r in response.json()["results"]]


def _within(seconds: float, check: Callable[[], bool]) -> float:
    """Seconds until `check` holds (polled); fails past the deadline."""
    started = time.monotonic()
    while not check():
        waited = time.monotonic() - started
        assert waited < seconds, f"not seen within {seconds} s"
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def two_processes(
    make_client: AppFactory, postgres_url: str, tmp_path: Path
) -> tuple[TestClient, TestClient]:
    """Two apps on one PostgreSQL database, each with its own index (as two processes;
    SQLite serves one)."""
    first = make_client(postgres_url, tmp_path / "one")
    second = make_client(postgres_url, tmp_path / "two")
    second.headers["X-API-Key"] = first.headers["X-API-Key"]
    return first, second


@pytest.mark.postgres
def test_publish_edit_archive_restore_reach_the_other_process(
    two_processes: tuple[TestClient, TestClient],
) -> None:
    one, two = two_processes
    query = "grinding noise when the gantry spins"
    created = one.post("/articles", json=article_payload()).json()
    slug = created["slug"]
    _within(VISIBLE_WITHIN, lambda: slug in _slugs(two, query))

    steps = [{"text": "Power the gantry down and call tier 2 about the bearing."}]
    edited = one.patch(f"/articles/{slug}", json={"steps": steps, "version": 1})
    assert edited.status_code == 200, edited.text

    def new_steps_shown() -> bool:
        hits = two.post("/search", json={"query": query}).json()["results"]
        return any(h["slug"] == slug and h["steps"][0]["text"] == steps[0]["text"] for h in hits)

    _within(VISIBLE_WITHIN, new_steps_shown)

    assert one.post(f"/articles/{slug}/archive").status_code == 200
    _within(VISIBLE_WITHIN, lambda: slug not in _slugs(two, query))
    assert one.post(f"/articles/{slug}/publish").status_code == 200
    _within(VISIBLE_WITHIN, lambda: slug in _slugs(two, query))


@pytest.mark.postgres
def test_a_revoked_key_is_refused_by_every_process(
    two_processes: tuple[TestClient, TestClient],
) -> None:
    one, two = two_processes
    _, key = key_for(one, "dispatcher")
    headers = {"X-API-Key": key}
    # both processes have verified, and cached, the key
    assert one.get("/calls", headers=headers).status_code == 200
    assert two.get("/calls", headers=headers).status_code == 200
    key_id = one.get("/me", headers=headers).json()["key_id"]
    assert one.post(f"/keys/{key_id}/revoke").status_code == 200
    _within(VISIBLE_WITHIN, lambda: two.get("/calls", headers=headers).status_code == 401)


@pytest.mark.postgres
def test_a_role_change_reaches_the_other_process(
    two_processes: tuple[TestClient, TestClient],
) -> None:
    one, two = two_processes
    person_id, key = key_for(one, "engineer")
    headers = {"X-API-Key": key}
    assert two.post("/articles", json=article_payload(), headers=headers).status_code == 201
    changed = one.patch(f"/people/{person_id}", json={"roles": ["dispatcher"]})
    assert changed.status_code == 200, changed.text
    _within(
        VISIBLE_WITHIN,
        lambda: (
            two.post(
                "/articles", json=article_payload(title="Another"), headers=headers
            ).status_code
            == 403
        ),
    )


def test_a_job_writing_beside_the_service_is_followed(
    make_client: AppFactory, database_url: str, tmp_path: Path
) -> None:
    """A command-line job (another process, no access to the service's index) writes an
    article: the running service finds it by reading the feed, on SQLite too (by polling)."""
    client = make_client(database_url, feed_poll_seconds=0.1)
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            article = article_service.create(
                session=session,
                data=ArticleCreate.model_validate(article_payload()),
                actor="import job",
                indexer=None,
            )
        _within(VISIBLE_WITHIN, lambda: article.slug in _slugs(client, "gantry grinding noise"))
    finally:
        engine.dispose()


def test_a_rolled_back_write_leaves_no_change(database_url: str, client: TestClient) -> None:
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        before = feed_service.latest(session=session)

    def failing_request() -> None:
        with transaction(sessions) as session:
            feed_service.record(session=session, topic=Topic.ARTICLE, ref=1)
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    with transaction(sessions) as session:
        feed_service.record(session=session, topic=Topic.AUTH)
    with sessions() as session:
        rows = session.scalars(select(Change).where(Change.id > before)).all()
    assert [(r.topic, r.ref) for r in rows] == [("auth", None)]


@pytest.mark.postgres
def test_concurrent_writers_never_leave_a_follower_behind(
    make_client: AppFactory, postgres_url: str
) -> None:
    """Ids grow in commit order: a reader that has seen id N never later finds a
    committed change below N (which it would skip)."""
    client = make_client(postgres_url)
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        start = feed_service.latest(session=session)
    writers, each = 4, 40
    done = threading.Event()
    seen: list[int] = []

    def write(n: int) -> None:
        for i in range(each):
            with transaction(sessions) as session:
                feed_service.record(session=session, topic=Topic.ARTICLE, ref=n * 1000 + i)
                # a write that takes a while after the feed row is queued
                session.execute(select(1))

    def follow() -> None:
        position = start
        while True:
            finished = done.is_set()
            with sessions() as session:
                for change in feed_service.after(session=session, position=position):
                    seen.append(change.id)
                    position = change.id
            if finished:
                return

    reader = threading.Thread(target=follow)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    with sessions() as session:
        committed = [
            c.id for c in feed_service.after(session=session, position=start, limit=10_000)
        ]
    assert len(committed) == writers * each
    assert seen == committed, "the follower skipped changes committed behind its position"
