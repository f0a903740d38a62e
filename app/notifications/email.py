"""E-mail copies of notifications through SMTP (SMTP_URL), sent by a background thread.

`service.on_event` marks a notification for e-mail (status pending) when the app that
wrote it sends e-mail and the person is active with an address; the worker here sends
the due ones, retrying with the webhooks' back-off (WEBHOOK_BACKOFF_SECONDS, doubling;
WEBHOOK_MAX_ATTEMPTS, then failed). Every process with SMTP_URL set marks; those with
the scheduler on send, and a claim committed before sending keeps two of them from
sending the same e-mail."""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Person
from app.config import Settings
from app.db import transaction, utcnow
from app.errors import OutageLog
from app.notifications.models import EmailStatus, Notification
from app.notifications.service import EMAIL_NOTIFICATIONS

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10.0  # each step of an SMTP conversation
# a claimed e-mail not settled by then (its process died while sending) is sent again;
# longer than a slow conversation's few timed-out steps
CLAIM_SECONDS = 300.0
SUBJECT_CHARS = 78


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send, read from SMTP_URL."""

    host: str
    port: int
    implicit_tls: bool  # smtps://: TLS from the first byte
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        # what logs name: never the credentials
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpServer:
    """Read smtp://[user:password@]host[:port] (25) or smtps://... (465), percent-decoded."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("SMTP_URL must start with smtp:// or smtps://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("SMTP_URL has a port that is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise ValueError("SMTP_URL names no host")
    tls = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if tls else 25),
        implicit_tls=tls,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def _subject(text: str) -> str:
    one_line = " ".join(text.split())  # a header may not hold a line break
    if len(one_line) <= SUBJECT_CHARS:
        return one_line
    return one_line[: SUBJECT_CHARS - 1].rstrip() + "…"


def compose(notification: Notification, *, to: str, sender: str) -> EmailMessage:
    """The e-mail of one notification: its text, and the call it is about."""
    msg = EmailMessage()
    msg["Subject"] = _subject(notification.text)
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = formatdate(usegmt=True)
    # the sender's domain: make_msgid's default asks DNS for this host's name
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(f"notification.{notification.id}", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    lines = [notification.text, ""]
    if notification.call_id is not None:
        cid = notification.call_id
        lines.append(f"Call {cid}: GET /calls/{cid}, in the console /ui/calls/{cid}")
    lines.append("Your notifications are listed at GET /me/notifications.")
    msg.set_content("\n".join(lines) + "\n")
    return msg


def _describe(exc: Exception) -> str:
    """What went wrong, in the server's words (smtplib's errors hold no credentials)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = [
            f"{code} {reply.decode(errors='replace')}" for code, reply in exc.recipients.values()
        ]
        return "recipient refused: " + "; ".join(refused)
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return f"{exc.smtp_code} {text}"
    return f"{exc.__class__.__name__}: {exc}"


class EmailWorker:
    """Background sender of pending notification e-mails."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.server = parse_smtp_url(settings.smtp_url) if settings.smtp_url else None
        self.poll_seconds = settings.webhook_poll_seconds
        self.backoff_seconds = settings.webhook_backoff_seconds
        self.max_attempts = settings.webhook_max_attempts
        self._stop = threading.Event()
        self._outage = OutageLog(log, "e-mail sending")
        self._thread: threading.Thread | None = None
        if self.server is not None:
            # every session of this app from now on marks its notifications for e-mail
            # (Session copies its factory's info when made)
            info = {**sessions.kw.get("info", {}), EMAIL_NOTIFICATIONS: True}
            sessions.configure(info=info)

    def start(self) -> None:
        """Start sending in a daemon thread."""
        if self.server is None or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="email", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current message."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_SECONDS + 2)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.run_once()
                self._outage.succeeded()
            except Exception as exc:  # keep the worker alive; the e-mails stay pending
                self._outage.failed(exc)
                sent = 0
            if not sent:
                self._stop.wait(self.poll_seconds)

    def run_once(self, limit: int = 20) -> int:
        """Send every due e-mail once; returns how many were attempted."""
        return self.send(self.due(limit))

    def due(self, limit: int = 20) -> list[tuple[int, datetime]]:
        """The pending e-mails due now, each with its due time (what `send` claims by)."""
        if self.server is None:
            return []
        with self.sessions() as session:
            rows = session.execute(
                select(Notification.id, Notification.email_next_at)
                .where(Notification.email_status == EmailStatus.PENDING)
                .where(Notification.email_next_at <= utcnow())
                .order_by(Notification.email_next_at, Notification.id)
                .limit(limit)
            ).all()
        return [(nid, at) for nid, at in rows if at is not None]

    def send(self, due: list[tuple[int, datetime]]) -> int:
        """Claim and send each of `due` no other worker took since; returns how many."""
        attempted = 0
        for notification_id, due_at in due:
            if self._stop.is_set():
                break
            claimed = self._claim(notification_id, due_at)
            if claimed is None:
                continue
            notification, to = claimed
            if to is None:  # not worth retrying
                self._settle(
                    notification_id, "the person is inactive or has no address", final=True
                )
            else:
                self._settle(notification_id, self._deliver(notification, to), final=False)
            attempted += 1
        return attempted

    def _claim(
        self, notification_id: int, due_at: datetime
    ) -> tuple[Notification, str | None] | None:
        """Take the e-mail if still due at `due_at` (committed first); its address now."""
        with transaction(self.sessions) as session:
            # the first statement writes: no read snapshot for SQLite to refuse upgrading
            won = session.execute(
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.email_status == EmailStatus.PENDING,
                    Notification.email_next_at == due_at,
                )
                .values(email_next_at=utcnow() + timedelta(seconds=CLAIM_SECONDS))
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
        if not won:
            return None
        with self.sessions() as session:
            notification = session.get(Notification, notification_id)
            assert notification is not None
            person = session.get(Person, notification.person_id)
            # the address as it is now (corrected since, or gone with the person)
            address = person.email if person is not None and person.active else None
            return notification, address

    def _deliver(self, notification: Notification, to: str) -> str | None:
        """Send one e-mail; None when the server took it, else what went wrong."""
        assert self.server is not None
        message = compose(notification, to=to, sender=self.settings.smtp_from)
        try:
            self._transmit(message)
        except Exception as exc:  # any failure is retried, then recorded
            error = _describe(exc)
            log.warning(
                "e-mail of notification %s through %s failed: %s",
                notification.id,
                self.server,
                error,
            )
            return error
        return None

    def _transmit(self, message: EmailMessage) -> None:
        server = self.server
        assert server is not None
        context = ssl.create_default_context()
        smtp = (
            smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT_SECONDS, context=context)
            if server.implicit_tls
            else smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_SECONDS)
        )
        with smtp:
            smtp.ehlo()
            if not server.implicit_tls and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            if server.user is not None:
                smtp.login(server.user, server.password or "")
            smtp.send_message(message)

    def _settle(self, notification_id: int, error: str | None, *, final: bool) -> None:
        """Record the attempt: sent, or retried later, or failed after the last one."""
        with transaction(self.sessions) as session:
            n = session.get(Notification, notification_id)
            assert n is not None
            n.email_attempts += 1
            if error is None:
                n.email_status = EmailStatus.SENT
                n.emailed_at = utcnow()
                n.email_next_at = None
                n.email_error = None
                return
            n.email_error = error[:500]
            if final or n.email_attempts >= self.max_attempts:
                n.email_status = EmailStatus.FAILED
                n.email_next_at = None
            else:
                delay = self.backoff_seconds * 2 ** (n.email_attempts - 1)
                n.email_next_at = utcnow() + timedelta(seconds=delay)
