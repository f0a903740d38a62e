"""Per-key rate limits: 429 problem+json with Retry-After, in memory and on the real
Redis, one budget for every process sharing that Redis."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from app.config import Settings
from tests.conftest import key_for
from tests.ratelimit.conftest import App, admin_key, assert_too_many, sign_in


def test_a_key_past_its_limit_gets_429_with_retry_after(
    start_app: App, storage: dict[str, object]
) -> None:
    client = start_app(rate_limit="3/minute", **storage)
    key = admin_key(client)
    for _ in range(3):
        assert client.get("/me", headers={"X-API-Key": key}).status_code == 200
    refused = client.get("/me", headers={"X-API-Key": key})
    # the moving window frees its first slot a minute after the first request
    assert assert_too_many(refused, 60) >= 55
    assert refused.json()["instance"] == "/me"
    # another key has a budget of its own
    other = admin_key(client)
    assert client.get("/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_the_window_frees_as_its_oldest_request_leaves(
    start_app: App, storage: dict[str, object]
) -> None:
    client = start_app(rate_limit="2/2seconds", **storage)
    key = admin_key(client)
    headers = {"X-API-Key": key}
    began = time.monotonic()
    assert [client.get("/me", headers=headers).status_code for _ in range(2)] == [200, 200]
    refused = client.get("/me", headers=headers)
    if time.monotonic() - began < 1.5:  # a slow machine may already be past the window
        assert_too_many(refused, 2)
    # within the window (plus the rounding up of Retry-After) a request passes again
    deadline = began + 3.5
    while client.get("/me", headers=headers).status_code == 429:
        assert time.monotonic() < deadline, "the window did not free"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_two_apps_on_one_redis_share_a_key_budget(
    start_app: App, database_url: str, redis_url: str, prefix: str
) -> None:
    shared = {"rate_limit": "5/minute", "redis_url": redis_url, "rate_limit_prefix": prefix}
    first = start_app(database_url, **shared)
    second = start_app(database_url, **shared)
    key = admin_key(first)
    headers = {"X-API-Key": key}
    answers = [(first if i % 2 else second).get("/me", headers=headers) for i in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    # the budget is spent, whichever process is asked
    assert_too_many(first.get("/me", headers=headers), 60)
    assert_too_many(second.get("/me", headers=headers), 60)
    # the counters are in Redis under the deployment's prefix, named by the key's id
    key_id = answers[0].json()["key_id"]
    with redis.Redis.from_url(redis_url) as conn:
        names = [k.decode() for k in conn.scan_iter(f"{prefix}:*")]
    assert names == [f"{prefix}:LIMITER/key/{key_id}/5/1/minute"]


def test_console_pages_count_against_the_persons_key(start_app: App) -> None:
    client = start_app(rate_limit="4/minute")
    client.headers["X-API-Key"] = admin_key(client)
    _, key = key_for(client, "dispatcher")
    del client.headers["X-API-Key"]
    assert client.get("/me", headers={"X-API-Key": key}).status_code == 200
    sign_in(client, key)
    assert client.get("/ui/calls").status_code == 200
    assert client.get("/ui/calls").status_code == 200
    assert client.get("/me", headers={"X-API-Key": key}).status_code == 200
    # four used: the console is refused with a page, the API with problem+json
    page = client.get("/ui/calls")
    assert page.status_code == 429
    assert page.headers["content-type"].startswith("text/html")
    assert 55 <= int(page.headers["retry-after"]) <= 60
    assert "Too many requests" in page.text
    assert "content-security-policy" in page.headers
    assert_too_many(client.get("/me", headers={"X-API-Key": key}), 60)
    # its files are not counted
    assert client.get("/ui/static/console.css").status_code == 200


def test_no_limit_when_empty_or_zero(start_app: App) -> None:
    client = start_app(rate_limit="0", auth_failure_limit="")
    key = admin_key(client)
    assert all(client.get("/me", headers={"X-API-Key": key}).status_code == 200 for _ in range(30))
    assert client.app.state.rate_limiter.per_key == ()  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", ["abc", "600/fortnight", "0/minute", "-1/second"])
def test_a_bad_limit_setting_names_the_field(bad: str) -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        Settings(rate_limit=bad)


def test_redis_down_lets_requests_through_and_says_so(
    start_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    # nothing listens on port 1
    client = start_app(rate_limit="1/minute", redis_url="redis://127.0.0.1:1/0")
    key = admin_key(client)
    with caplog.at_level(logging.WARNING, logger="app.ratelimit.limiter"):
        answers = [client.get("/me", headers={"X-API-Key": key}).status_code for _ in range(5)]
    assert answers == [200] * 5
    warnings = [r for r in caplog.records if "rate limits are not applied" in r.getMessage()]
    assert len(warnings) == 1
    assert "127.0.0.1:1" in warnings[0].getMessage()


def test_redis_url_must_be_redis() -> None:
    with pytest.raises(ValueError, match="redis_url"):
        Settings(redis_url="http://127.0.0.1:6379")
    assert Settings(redis_url="").redis_url is None
