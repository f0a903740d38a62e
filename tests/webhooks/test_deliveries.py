import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.webhooks.service import SIGNATURE_HEADER, verify
from tests.conftest import AppFactory
from tests.webhooks.servers import wait_until

SECRET = "s3cret-s3cret-s3cret"


class Receiver:
    """A real HTTP receiver on 127.0.0.1 that fails its first `fail_first` requests."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[int, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 503 if len(receiver.requests) < receiver.fail_first else 204
                receiver.requests.append((code, dict(self.headers), body))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for code, h, b in self.requests if code == 204]

    def wait_for(self, n: int, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while len(self.delivered()) < n and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.server.shutdown()


FAST = {"webhook_poll_seconds": 0.05, "webhook_backoff_seconds": 0.1}


def _settled(client: TestClient) -> list[dict]:
    """The deliveries, once the newest is recorded as delivered: the receiver has the
    request before the worker commits what it answered."""

    def newest() -> str:
        return str(client.get("/webhooks/deliveries").json()[0]["status"])

    assert wait_until(lambda: newest() == "delivered"), newest()
    deliveries: list[dict] = client.get("/webhooks/deliveries").json()
    return deliveries


def _subscribe(client, url: str) -> None:
    response = client.post(
        "/webhooks/subscriptions",
        json={"url": url, "secret": SECRET, "event_types": ["call.opened", "article.published"]},
    )
    assert response.status_code == 201, response.text


def _open_call(client) -> int:
    site = client.post("/sites", json={"hospital": "General"}).json()
    response = client.post(
        "/calls",
        json={"caller_name": "Ann", "site_id": site["id"], "modality": "MR", "urgency": "degraded"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_failing_receiver_gets_event_after_retries_with_valid_signature(
    make_client: AppFactory, database_url: str, receiver: Receiver
) -> None:
    client = make_client(database_url, **FAST)
    _subscribe(client, receiver.url)
    call_id = _open_call(client)
    receiver.wait_for(1)
    assert [code for code, _, _ in receiver.requests] == [503, 503, 204]
    headers, body = receiver.delivered()[0]
    assert verify(SECRET, headers[SIGNATURE_HEADER], body)
    assert not verify("wrong-secret-wrong", headers[SIGNATURE_HEADER], body)
    event = json.loads(body)
    assert event["type"] == "call.opened"
    assert event["data"]["call_id"] == call_id
    deliveries = _settled(client)
    assert [a["status_code"] for a in deliveries[0]["attempt_log"]] == [503, 503, 204]
    gaps = [a["at"] for a in deliveries[0]["attempt_log"]]
    assert gaps == sorted(gaps)


def test_pending_delivery_is_sent_after_restart(
    make_client: AppFactory, database_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.fail_first = 0
    first = make_client(database_url, tmp_path / "d", webhook_worker=False)
    _subscribe(first, receiver.url)
    _open_call(first)
    assert first.get("/webhooks/deliveries").json()[0]["status"] == "pending"
    first.__exit__(None, None, None)
    assert receiver.requests == []
    second = make_client(database_url, tmp_path / "d", **FAST)
    receiver.wait_for(1)
    assert len(receiver.delivered()) == 1
    _settled(second)


def test_redeliver_sends_a_delivered_event_again(
    make_client: AppFactory, database_url: str, receiver: Receiver
) -> None:
    receiver.fail_first = 0
    client = make_client(database_url, **FAST)
    _subscribe(client, receiver.url)
    _open_call(client)
    receiver.wait_for(1)
    delivery = _settled(client)[0]
    again = client.post(f"/webhooks/deliveries/{delivery['id']}/redeliver")
    assert again.status_code == 200
    receiver.wait_for(2)
    bodies = [json.loads(b)["id"] for _, b in receiver.delivered()]
    assert bodies[0] == bodies[1], "the same event, so receivers can de-duplicate"


def test_article_published_event_is_written_with_the_change(
    make_client: AppFactory, database_url: str, receiver: Receiver
) -> None:
    from tests.conftest import article_payload

    receiver.fail_first = 0
    client = make_client(database_url, **FAST)
    _subscribe(client, receiver.url)
    created = client.post("/articles", json=article_payload(status="draft")).json()
    client.post(f"/articles/{created['id']}/publish")
    receiver.wait_for(1)
    event = json.loads(receiver.delivered()[0][1])
    assert event["type"] == "article.published"
    assert event["data"]["article_id"] == created["id"]


def test_subscription_needs_valid_url_and_known_events(
    make_client: AppFactory, database_url: str
) -> None:
    client = make_client(database_url)
    bad = client.post(
        "/webhooks/subscriptions",
        json={"url": "not a url", "secret": SECRET, "event_types": ["call.exploded"]},
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"url", "event_types.0"}
