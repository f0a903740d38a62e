"""Signing secrets are stored encrypted (SECRET_KEY, or a key made into DATA_DIR), rows
written in plain text before keep working and are encrypted, and receivers still verify."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.webhooks.worker import UNREADABLE_SECRET
from tests.conftest import AppFactory
from tests.webhooks.servers import SECRET, Hub, open_call, subscribed, wait_until


def _stored(client: TestClient) -> list[str]:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("select secret from webhook_subscriptions"))]


def _last_delivery(client: TestClient) -> dict[str, Any]:
    newest: dict[str, Any] = client.get("/webhooks/deliveries").json()[0]
    return newest


def test_the_secret_is_stored_encrypted_and_deliveries_verify(
    database_url: str, make_client: AppFactory, hub: Hub, tmp_path: Path
) -> None:
    client = make_client(database_url, tmp_path / "d", webhook_poll_seconds=0.05)
    subscribed(client, hub.url())
    [stored] = _stored(client)
    assert SECRET not in stored
    assert stored.startswith("fernet:")
    key_file = tmp_path / "d" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Fernet(key_file.read_bytes()).decrypt(stored.removeprefix("fernet:")) == SECRET.encode()
    open_call(client)
    assert wait_until(lambda: len(hub.requests) == 1)
    assert hub.all_verify(SECRET)
    assert not hub.all_verify("another-secret-of-some-length")
    assert "secret" not in json.dumps(client.get("/webhooks/subscriptions").json()[0])


def test_a_secret_stored_in_plain_text_keeps_working_and_is_encrypted(
    database_url: str, make_client: AppFactory, hub: Hub, tmp_path: Path
) -> None:
    first = make_client(database_url, tmp_path / "d", webhook_worker=False)
    subscribed(first, hub.url())
    with first.app.state.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("update webhook_subscriptions set secret = :s"), {"s": SECRET})
    open_call(first)
    first.__exit__(None, None, None)

    client = make_client(database_url, tmp_path / "d", webhook_poll_seconds=0.05)
    assert wait_until(lambda: len(hub.requests) == 1)
    assert hub.all_verify(SECRET)
    [stored] = _stored(client)
    assert stored.startswith("fernet:")
    assert SECRET not in stored


def test_secret_key_setting_encrypts_and_can_be_rotated(
    database_url: str, make_client: AppFactory, hub: Hub, tmp_path: Path
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = make_client(database_url, tmp_path / "d", secret_key=old, webhook_worker=False)
    subscribed(first, hub.url())
    [stored] = _stored(first)
    assert Fernet(old).decrypt(stored.removeprefix("fernet:")) == SECRET.encode()
    assert not (tmp_path / "d" / "secret.key").exists()
    open_call(first)
    first.__exit__(None, None, None)

    # another key alone cannot read it: the attempt says so, nothing is sent
    wrong = make_client(database_url, tmp_path / "d", secret_key=new, webhook_poll_seconds=0.05)
    assert wait_until(lambda: _last_delivery(wrong)["attempts"] >= 1)
    assert _last_delivery(wrong)["last_error"] == UNREADABLE_SECRET
    assert hub.requests == []
    wrong.__exit__(None, None, None)

    # the new key first, the old one after it: read with the old, delivered
    both = make_client(
        database_url,
        tmp_path / "d",
        secret_key=f"{new},{old}",
        webhook_poll_seconds=0.05,
        webhook_backoff_seconds=0.05,
    )
    redelivered = both.post(f"/webhooks/deliveries/{_last_delivery(both)['id']}/redeliver")
    assert redelivered.status_code == 200
    assert wait_until(lambda: len(hub.requests) == 1)
    assert hub.all_verify(SECRET)


def test_a_malformed_secret_key_is_refused_at_start() -> None:
    from pydantic import ValidationError

    from app.config import Settings

    with pytest.raises(ValidationError, match="Fernet"):
        Settings(secret_key="not-a-key")
