"""E-mail copies of notifications, sent to a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import make_engine, make_sessionmaker
from app.notifications.email import EmailWorker, parse_smtp_url
from app.notifications.models import EmailStatus, Notification

FRANK = "frank.field@example.org"


@dataclass
class Inbox:
    """An aiosmtpd handler keeping what arrives; answers `answer` to each message."""

    answer: str = "250 Message accepted"
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    # the name aiosmtpd calls
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        self.arrived.set()
        return self.answer

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.messages if address in rcpt]


@pytest.fixture
def smtpd() -> Iterator[Callable[..., int]]:
    """Start an SMTP server on a free port of 127.0.0.1; returns its port."""
    running: list[Controller] = []

    def start(inbox: Inbox, **options: Any) -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        running.append(controller)
        return port

    yield start
    for controller in running:
        controller.stop()


@dataclass
class Scene:
    """A dispatcher (no address) and a scanner whose primary is Frank the field engineer."""

    client: TestClient
    dispatcher: str
    field_id: int

    def open_call(self) -> int:
        body = {
            "caller_name": "Rita Radiographer",
            "callback_number": "+44 20 7946 0123",
            "serial_number": "AUR64-0042",
            "symptom": "Tube arcing with a popping sound during the scan",
            "urgency": "system_down",
            "patient_impact": True,
        }
        opened = self.client.post("/calls", json=body, headers={"X-API-Key": self.dispatcher})
        assert opened.status_code == 201, opened.text
        return int(opened.json()["id"])

    def rows(self, person_id: int | None = None) -> list[Notification]:
        with self.client.app.state.sessions() as session:  # type: ignore[attr-defined]
            stmt = select(Notification).order_by(Notification.id)
            if person_id is not None:
                stmt = stmt.where(Notification.person_id == person_id)
            return list(session.scalars(stmt))

    @property
    def mailer(self) -> EmailWorker:
        worker: EmailWorker = self.client.app.state.mailer  # type: ignore[attr-defined]
        return worker


def _person(client: TestClient, role: str, email: str | None) -> tuple[int, str]:
    body: dict[str, object] = {"name": f"{role} {uuid.uuid4().hex[:6]}", "roles": [role]}
    if email:
        body["email"] = email
    person = client.post("/people", json=body)
    assert person.status_code == 201, person.text
    key = client.post("/keys", json={"name": "test", "person_id": person.json()["id"]})
    assert key.status_code == 201, key.text
    return int(person.json()["id"]), str(key.json()["key"])


def _scene(client: TestClient, field_email: str | None = FRANK) -> Scene:
    _, dispatcher = _person(client, "dispatcher", None)
    field_id, _ = _person(client, "field_engineer", field_email)
    site = client.post(
        "/sites", json={"hospital": "St Elsewhere", "main_phone": "+44 20 7946 0100"}
    )
    assert site.status_code == 201, site.text
    asset = client.post(
        "/assets",
        json={
            "site_id": site.json()["id"],
            "modality": "CT",
            "manufacturer": "Nordvale Medical",
            "model": "Aurion 64",
            "serial_number": "AUR64-0042",
            "primary_engineer_id": field_id,
        },
    )
    assert asset.status_code == 201, asset.text
    return Scene(client, dispatcher, field_id)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def smtp_url(smtpd: Callable[..., int], inbox: Inbox) -> str:
    return f"smtp://127.0.0.1:{smtpd(inbox)}"


def test_a_call_opened_emails_its_primary_engineer_once(
    make_client: Callable[..., TestClient], database_url: str, smtp_url: str, inbox: Inbox
) -> None:
    client = make_client(
        database_url, smtp_url=smtp_url, scheduler=False, smtp_from="Help desk <desk@example.org>"
    )
    scene = _scene(client)
    cid = scene.open_call()
    [row] = scene.rows(scene.field_id)
    assert row.email_status == EmailStatus.PENDING
    assert scene.mailer.run_once() == 1
    [msg] = inbox.to(FRANK)
    assert len(inbox.messages) == 1  # the dispatcher has no address
    assert msg["To"] == FRANK
    assert msg["From"] == "Help desk <desk@example.org>"
    assert msg["Subject"].startswith(f"Call {cid} opened on CT Aurion 64 SN AUR64-0042")
    assert len(msg["Subject"]) <= 78
    body = msg.get_content()
    assert row.text in body
    assert f"/calls/{cid}" in body
    [row] = scene.rows(scene.field_id)
    assert row.email_status == EmailStatus.SENT
    assert row.emailed_at is not None
    assert row.email_attempts == 1
    # sent is sent: nothing goes twice
    assert scene.mailer.run_once() == 0
    assert len(inbox.messages) == 1


def test_no_address_or_inactive_means_no_email(
    make_client: Callable[..., TestClient], database_url: str, smtp_url: str, inbox: Inbox
) -> None:
    client = make_client(database_url, smtp_url=smtp_url, scheduler=False)
    scene = _scene(client, field_email=None)
    scene.open_call()
    patched = client.patch(f"/people/{scene.field_id}", json={"email": FRANK, "active": False})
    assert patched.status_code == 200, patched.text
    scene.open_call()
    rows = scene.rows()
    assert len(rows) >= 2
    assert {r.email_status for r in rows} == {None}
    assert scene.mailer.run_once() == 0
    assert inbox.messages == []
    # marked, then the address is gone before the send: failed, not retried
    client.patch(f"/people/{scene.field_id}", json={"active": True})
    marked = scene.open_call()
    client.patch(f"/people/{scene.field_id}", json={"email": None})
    assert scene.mailer.run_once() == 1
    [row] = [r for r in scene.rows(scene.field_id) if r.call_id == marked]
    assert row.email_status == EmailStatus.FAILED
    assert row.email_error == "the person is inactive or has no address"
    assert scene.mailer.run_once() == 0
    assert inbox.messages == []


def test_only_an_app_with_smtp_marks_and_old_news_stays_unsent(
    make_client: Callable[..., TestClient],
    database_url: str,
    smtp_url: str,
    inbox: Inbox,
    tmp_path: Path,
) -> None:
    # two apps in one process, on one database: the listener is shared, the setting not
    quiet = make_client(database_url, tmp_path / "quiet")
    scene = _scene(quiet)
    before = scene.open_call()
    assert [r.email_status for r in scene.rows(scene.field_id)] == [None]
    mailing = make_client(database_url, tmp_path / "mailing", smtp_url=smtp_url, scheduler=False)
    sender = Scene(mailing, scene.dispatcher, scene.field_id)
    after = sender.open_call()
    assert sender.mailer.run_once() == 1
    [msg] = inbox.messages
    assert f"Call {after} " in msg[1]["Subject"]
    statuses = {r.call_id: r.email_status for r in scene.rows(scene.field_id)}
    assert statuses == {before: None, after: EmailStatus.SENT}


def test_a_refusing_server_is_retried_then_failed(
    make_client: Callable[..., TestClient],
    database_url: str,
    smtpd: Callable[..., int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    refusing = Inbox(answer="550 5.7.1 Mailbox unavailable")
    client = make_client(
        database_url,
        smtp_url=f"smtp://127.0.0.1:{smtpd(refusing)}",
        scheduler=False,
        webhook_backoff_seconds=0,  # due again at once: the test drives each attempt
        webhook_max_attempts=3,
    )
    scene = _scene(client)
    scene.open_call()
    with caplog.at_level(logging.WARNING, logger="app.notifications.email"):
        for attempt in (1, 2, 3):
            assert scene.mailer.run_once() == 1
            [row] = scene.rows(scene.field_id)
            assert row.email_attempts == attempt
    assert row.email_status == EmailStatus.FAILED
    assert row.email_error == "550 5.7.1 Mailbox unavailable"
    assert row.emailed_at is None
    assert len(refusing.to(FRANK)) == 3
    assert scene.mailer.run_once() == 0
    assert "550 5.7.1 Mailbox unavailable" in caplog.text


def test_a_failure_waits_the_backoff(
    make_client: Callable[..., TestClient], database_url: str, smtpd: Callable[..., int]
) -> None:
    refusing = Inbox(answer="451 4.3.0 Try again later")
    client = make_client(
        database_url,
        smtp_url=f"smtp://127.0.0.1:{smtpd(refusing)}",
        scheduler=False,
        webhook_backoff_seconds=60,
    )
    scene = _scene(client)
    scene.open_call()
    started = time.time()
    assert scene.mailer.run_once() == 1
    assert scene.mailer.run_once() == 0  # not due for a minute
    took = time.time() - started
    [row] = scene.rows(scene.field_id)
    assert row.email_status == EmailStatus.PENDING
    assert row.email_error == "451 4.3.0 Try again later"
    assert row.email_next_at is not None
    assert 60 <= row.email_next_at.timestamp() - started <= 60 + took


def test_two_workers_send_each_email_once(
    make_client: Callable[..., TestClient], database_url: str, smtp_url: str, inbox: Inbox
) -> None:
    client = make_client(database_url, smtp_url=smtp_url, scheduler=False)
    scene = _scene(client)
    calls = [scene.open_call() for _ in range(8)]
    # a second process: its own engine and sessions on the same database
    engine = make_engine(database_url)
    other = EmailWorker(make_sessionmaker(engine), client.app.state.settings)  # type: ignore[attr-defined]
    workers = [scene.mailer, other]
    # both read the same due e-mails before either sends: every claim is contested
    seen = [worker.due() for worker in workers]
    assert len(seen[0]) == len(seen[1]) == 8
    start = threading.Barrier(2)
    sent = [0, 0]

    def run(i: int) -> None:
        start.wait(timeout=10)
        sent[i] = workers[i].send(seen[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    engine.dispose()
    assert sum(sent) == 8
    subjects = sorted(m["Subject"].split()[1] for m in inbox.to(FRANK))
    assert subjects == sorted(str(c) for c in calls)
    assert {r.email_status for r in scene.rows(scene.field_id)} == {EmailStatus.SENT}
    # and later rounds, from either, find nothing left
    assert scene.mailer.run_once() + other.run_once() == 0


def test_the_worker_thread_sends_and_stops_promptly(
    make_client: Callable[..., TestClient], database_url: str, smtp_url: str, inbox: Inbox
) -> None:
    # a slow poll: stopping inside its wait must not wait it out
    client = make_client(database_url, smtp_url=smtp_url, webhook_poll_seconds=3)
    scene = _scene(client)
    cid = scene.open_call()
    assert inbox.arrived.wait(timeout=30), "no e-mail within 30 s"
    [msg] = inbox.to(FRANK)
    assert f"Call {cid} " in msg["Subject"]
    began = time.monotonic()
    scene.mailer.stop()
    assert time.monotonic() - began < 2
    [row] = scene.rows(scene.field_id)
    assert row.email_status == EmailStatus.SENT


# a login over plain SMTP on 127.0.0.1 is what the test wants to see
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_the_url_credentials_log_in_and_never_show(
    make_client: Callable[..., TestClient],
    database_url: str,
    smtpd: Callable[..., int],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        # not handled: aiosmtpd answers 535 itself
        return AuthResult(success=data.password == b"s3cret@pass", handled=False)

    inbox = Inbox()
    port = smtpd(inbox, authenticator=authenticate, auth_require_tls=False, auth_required=True)
    good = make_client(
        database_url,
        tmp_path / "good",
        smtp_url=f"smtp://desk%40example.org:s3cret%40pass@127.0.0.1:{port}",
        scheduler=False,
    )
    scene = _scene(good)
    scene.open_call()
    assert scene.mailer.run_once() == 1
    assert logins == [(b"desk@example.org", b"s3cret@pass")]
    assert len(inbox.to(FRANK)) == 1
    bad = make_client(
        database_url,
        tmp_path / "bad",
        smtp_url=f"smtp://desk:WrongHorse@127.0.0.1:{port}",
        scheduler=False,
        webhook_max_attempts=1,
    )
    sender = Scene(bad, scene.dispatcher, scene.field_id)
    sender.open_call()
    with caplog.at_level(logging.DEBUG):
        assert sender.mailer.run_once() == 1
    failed = [r for r in scene.rows(scene.field_id) if r.email_status == EmailStatus.FAILED]
    assert len(failed) == 1
    assert failed[0].email_error is not None
    assert failed[0].email_error.startswith("535")
    assert "WrongHorse" not in failed[0].email_error
    assert "WrongHorse" not in caplog.text
    assert "127.0.0.1" in caplog.text
    assert len(inbox.to(FRANK)) == 1
    assert "WrongHorse" not in repr(bad.app.state.mailer.server)  # type: ignore[attr-defined]


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), to be trusted by SSL_CERT_FILE."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_tls_starttls_when_offered_or_from_the_start(
    make_client: Callable[..., TestClient],
    smtpd: Callable[..., int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scheme: str,
) -> None:
    import ssl

    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    if scheme == "smtp":  # the server refuses mail before STARTTLS
        port = smtpd(inbox, tls_context=context, require_starttls=True)
    else:
        port = smtpd(inbox, ssl_context=context)
    url = f"{scheme}://127.0.0.1:{port}"
    client = make_client(
        f"sqlite:///{tmp_path / 'tls.db'}", smtp_url=url, scheduler=False, webhook_backoff_seconds=0
    )
    scene = _scene(client)
    scene.open_call()
    # the certificate is not trusted: nothing is sent in the clear or to an unverified server
    assert scene.mailer.run_once() == 1
    [row] = scene.rows(scene.field_id)
    assert row.email_error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in row.email_error
    assert inbox.messages == []
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now it is (a private CA's way)
    assert scene.mailer.run_once() == 1
    assert len(inbox.to(FRANK)) == 1


def test_the_smtp_url_is_read_with_defaults_and_refused_when_wrong() -> None:
    server = parse_smtp_url("smtps://mailer:p%3Ass@mail.example.org")
    assert (server.host, server.port, server.implicit_tls) == ("mail.example.org", 465, True)
    assert (server.user, server.password) == ("mailer", "p:ss")
    assert str(server) == "smtps://mail.example.org:465"
    assert "p:ss" not in repr(server)
    assert parse_smtp_url("smtp://relay").port == 25
    assert parse_smtp_url("smtp://relay:587").user is None
    for wrong in ("http://relay", "smtp://u:secret@relay:99999", "smtp://"):
        with pytest.raises(ValueError, match="SMTP_URL") as refused:
            parse_smtp_url(wrong)
        assert "secret" not in str(refused.value)
