"""Webhook URLs reach public addresses only, unless the allow-list says otherwise: checked
when subscribing and again at each connection; and what admins see of a failed attempt."""

from __future__ import annotations

import ssl
from pathlib import Path

from app.webhooks.guard import AddressPolicy
from app.webhooks.sender import Sender
from tests.conftest import AppFactory
from tests.webhooks.servers import (
    Banner,
    Hub,
    free_port,
    open_call,
    subscribe,
    tls_files,
    wait_until,
)

FAST = {"webhook_poll_seconds": 0.05, "webhook_backoff_seconds": 0.1}
HEADERS = {"Content-Type": "application/json"}


REFUSED = [
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.10/hook", "private"),
    ("http://[fd00::1]/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://240.0.0.1/hook", "reserved"),
]


def test_internal_addresses_are_refused_when_subscribing(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(f"sqlite:///{tmp_path / 'g.db'}", webhook_allowed_networks=[])
    for url, kind in REFUSED:
        response = subscribe(client, url)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        errors = response.json()["errors"]
        assert [e["field"] for e in errors] == ["url"], url
        assert f"a {kind} address" in errors[0]["message"], (url, errors)
        assert "WEBHOOK_ALLOWED_NETWORKS" in errors[0]["message"]
    # a name's addresses are not told back
    assert "127.0.0.1" not in subscribe(client, "http://localhost/hook").text
    assert client.get("/webhooks/subscriptions").json() == []


def test_allow_list_admits_a_deliberate_internal_receiver(
    database_url: str, make_client: AppFactory
) -> None:
    client = make_client(database_url, webhook_allowed_networks=["10.0.0.0/8", "localhost"])
    assert subscribe(client, "http://10.1.2.3/hook").status_code == 201
    assert subscribe(client, "http://localhost:9/hook").status_code == 201
    assert subscribe(client, "http://192.168.1.1/hook").status_code == 422


def test_an_unresolvable_host_is_refused(make_client: AppFactory, tmp_path: Path) -> None:
    client = make_client(f"sqlite:///{tmp_path / 'g.db'}")
    response = subscribe(client, "http://no-such-host.invalid/hook")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "url"


def test_the_address_is_checked_again_when_connecting(
    database_url: str, make_client: AppFactory, hub: Hub, tmp_path: Path
) -> None:
    """A subscription made while the allow-list admitted its receiver is not sent to once
    the allow-list no longer does: the check is made at each connection."""
    first = make_client(database_url, tmp_path / "d", webhook_worker=False)
    assert subscribe(first, hub.url()).status_code == 201
    open_call(first)
    first.__exit__(None, None, None)
    client = make_client(database_url, tmp_path / "d", webhook_allowed_networks=[], **FAST)
    assert wait_until(lambda: client.get("/webhooks/deliveries").json()[0]["attempts"] >= 1)
    delivery = client.get("/webhooks/deliveries").json()[0]
    assert delivery["status"] == "pending"
    assert delivery["last_error"] == "address not allowed"
    assert hub.requests == []


class Rebinding:
    """A name whose answer changes between two look-ups (DNS rebinding): public when the
    subscription is checked, loopback when the delivery connects."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]


def test_a_name_rebound_to_loopback_after_the_check_is_not_connected_to(hub: Hub) -> None:
    dns = Rebinding(["93.184.215.14"], ["127.0.0.1"])
    policy = AddressPolicy.from_entries([], resolver=dns)
    url = hub.url(host="hooks.example.com")
    policy.check_url(url)  # what the subscription saw: a public address
    outcome = Sender(policy, timeout_seconds=5).post(url, b"{}", HEADERS)
    assert outcome.error == "address not allowed"
    assert dns.lookups == ["hooks.example.com", "hooks.example.com"]
    assert hub.requests == []


def test_every_address_of_a_name_is_checked(hub: Hub) -> None:
    dns = Rebinding(["93.184.215.14", "127.0.0.1"])
    policy = AddressPolicy.from_entries([], resolver=dns)
    outcome = Sender(policy, timeout_seconds=5).post(hub.url(host="x.example"), b"{}", HEADERS)
    assert outcome.error == "address not allowed"
    assert hub.requests == []


def test_the_sender_connects_to_the_address_it_checked(hub: Hub) -> None:
    """Resolved once by the guard, then connected to by address: the receiver still sees
    the name in the Host header."""
    dns = Rebinding(["127.0.0.1"])
    policy = AddressPolicy.from_entries(["127.0.0.1"], resolver=dns)
    outcome = Sender(policy, timeout_seconds=5).post(hub.url(host="hooks.internal"), b"{}", HEADERS)
    assert outcome.status_code == 204
    assert outcome.error is None
    assert dns.lookups == ["hooks.internal"]
    assert hub.requests[0][1]["Host"] == f"hooks.internal:{hub.port}"


def test_tls_to_a_pinned_address_checks_the_certificate_of_the_name(tmp_path: Path) -> None:
    ca, cert, key = tls_files(tmp_path, host="localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    tls_hub = Hub(context=server_context)
    try:
        client_context = ssl.create_default_context(cafile=str(ca))
        policy = AddressPolicy.from_entries(["localhost"])
        sender = Sender(policy, timeout_seconds=5, ssl_context=client_context)
        ok = sender.post(tls_hub.url(host="localhost", scheme="https"), b"{}", HEADERS)
        assert ok.status_code == 204, ok
        assert tls_hub.sni == ["localhost"]
        # the certificate is for "localhost": reached by address, it does not verify
        by_address = Sender(
            AddressPolicy.from_entries(["127.0.0.1"]), timeout_seconds=5, ssl_context=client_context
        )
        bad = by_address.post(tls_hub.url(scheme="https"), b"{}", HEADERS)
        assert bad.status_code is None
        assert bad.error == "TLS error"
        # and a certificate from an unknown CA does not either
        untrusting = Sender(policy, timeout_seconds=5, ssl_context=ssl.create_default_context())
        assert (
            untrusting.post(tls_hub.url(host="localhost", scheme="https"), b"{}", HEADERS).error
            == "TLS error"
        )
    finally:
        tls_hub.close()


def test_failed_attempts_say_what_kind_of_failure_and_nothing_the_port_said(
    hub: Hub, tmp_path: Path
) -> None:
    sender = Sender(AddressPolicy.from_entries(["127.0.0.1"]), timeout_seconds=1)
    banner = Banner()
    try:
        seen = sender.post(f"http://127.0.0.1:{banner.port}/", b"{}", HEADERS)
        assert seen.status_code is None
        assert seen.error == "no valid HTTP answer"
        tls = sender.post(f"https://127.0.0.1:{banner.port}/", b"{}", HEADERS)
        assert tls.error == "TLS error"
    finally:
        banner.close()
    assert sender.post(f"http://127.0.0.1:{free_port()}/", b"{}", HEADERS).error == (
        "connection refused"
    )
    hub.status = 500
    assert sender.post(hub.url(), b"{}", HEADERS).error == "receiver answered 500"
    hub.status = 302
    assert sender.post(hub.url(), b"{}", HEADERS).error == "receiver answered 302"
    hub.hang = True
    assert sender.post(hub.url(), b"{}", HEADERS).error == "timed out"


def test_admins_see_the_kind_of_failure_not_the_banner(
    database_url: str, make_client: AppFactory
) -> None:
    banner = Banner()
    try:
        client = make_client(database_url, **FAST)
        assert subscribe(client, f"http://127.0.0.1:{banner.port}/hook").status_code == 201
        open_call(client)
        assert wait_until(lambda: client.get("/webhooks/deliveries").json()[0]["attempts"] >= 2)
    finally:
        banner.close()
    deliveries = client.get("/webhooks/deliveries")
    assert "SSH" not in deliveries.text
    assert "db-primary" not in deliveries.text
    delivery = deliveries.json()[0]
    assert delivery["last_error"] == "no valid HTTP answer"
    assert {a["error"] for a in delivery["attempt_log"]} == {"no valid HTTP answer"}
