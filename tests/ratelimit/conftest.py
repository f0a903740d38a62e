"""The app with its rate limits, in memory or on the real Redis at 127.0.0.1:6379 (a
namespace of its own per test; skipped when Redis is absent, a failure when CI is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from app.auth import service as auth_service
from app.config import Settings
from app.db import transaction
from app.main import create_app
from embeddings.encoder import Encoder

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# a client that reaches the app from the loopback proxy address (trusted by default)
LOOPBACK = ("127.0.0.1", 50000)

App = Callable[..., TestClient]


def _redis_absent() -> str | None:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1) as conn:
            conn.ping()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} does not answer: {exc.__class__.__name__}"
    return None


@pytest.fixture
def redis_url() -> str:
    """The real Redis's URL (skip, or fail under CI, when it does not answer)."""
    absent = _redis_absent()
    if absent:
        if os.environ.get("CI"):
            pytest.fail(absent)
        pytest.skip(absent)
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test run uses; its counters are deleted afterwards."""
    name = f"test-ratelimit-{uuid.uuid4().hex[:12]}"
    yield name
    with redis.Redis.from_url(redis_url) as conn:
        for key in conn.scan_iter(f"{name}:*"):
            conn.delete(key)


def admin_key(client: TestClient) -> str:
    """A fresh admin key on the client's app."""
    app = client.app
    with transaction(app.state.sessions) as session:  # type: ignore[attr-defined]
        key = auth_service.bootstrap_admin(session=session, name="Admin", only_if_empty=False)
    assert key
    return key


@pytest.fixture
def start_app(encoder: Encoder, tmp_path: Path) -> Iterator[App]:
    """Start the app (lifespan included) with settings overrides, seen from `client`;
    each call gets its own data dir; all are closed after the test."""
    opened: list[TestClient] = []

    def start(
        database_url: str | None = None,
        *,
        client: tuple[str, int] = LOOPBACK,
        **overrides: object,
    ) -> TestClient:
        data_dir = tmp_path / f"app{len(opened)}"
        values: dict[str, object] = {
            "data_dir": data_dir,
            "database_url": database_url or f"sqlite:///{data_dir / 'helpdesk.db'}",
            "index_save_delay": 0,
            "webhook_worker": False,
            "scheduler": False,
        }
        settings = Settings(**(values | overrides))  # type: ignore[arg-type]
        test_client = TestClient(
            create_app(settings, encoder=encoder), client=client, follow_redirects=False
        )
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield start
    for test_client in reversed(opened):
        test_client.__exit__(None, None, None)


def assert_too_many(response: httpx.Response, window: int) -> int:
    """A 429 problem+json whose Retry-After is within the window; returns it."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 429
    assert body["title"] == "Too Many Requests"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window
    assert f"try again in {retry_after} s" in body["detail"]
    return retry_after


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> dict[str, object]:
    """Settings for counting in memory (the default) or on the real Redis."""
    if request.param == "memory":
        return {}
    prefix = request.getfixturevalue("prefix")
    return {"redis_url": request.getfixturevalue("redis_url"), "rate_limit_prefix": prefix}


def login_token(client: httpx.Client) -> str:
    """The anti-forgery token of a fresh sign-in form (its cookie is kept by the client)."""
    form = client.get("/ui/login")
    return form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def sign_in(client: httpx.Client, key: str) -> None:
    """Sign in through the console's form (its anti-forgery token included)."""
    done = client.post("/ui/login", data={"api_key": key, "csrf_token": login_token(client)})
    assert done.status_code == 303, done.text
