"""One webhook POST: to checked addresses only, within a total time, and an outcome that
tells an admin what went wrong without repeating what the far end said.

Why a network backend rather than rewriting the URL to the IP: httpcore asks its backend
for a TCP connection to (host, port) and then starts TLS on that stream itself with the
URL's host name, so the backend can resolve once, check every address and connect to a
checked one, while the Host header, TLS SNI and certificate check keep using the name.
A proxy would resolve the name again, so none is used (environment proxies are ignored),
and redirects are not followed (a 3xx is a failed attempt)."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpcore

from app.webhooks.guard import AddressPolicy, AddressRefused, Unresolvable

log = logging.getLogger(__name__)
USER_AGENT = "imaging-helpdesk-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    """What an attempt got: the receiver's status code, or an error for the admins."""

    status_code: int | None
    error: str | None


class _DeadlineStream(httpcore.NetworkStream):
    """A stream whose every read and write ends by the request's deadline, so a receiver
    that trickles bytes cannot hold a sending thread longer than the timeout."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the delivery's time is up")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, left), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects only to addresses the policy checked, resolved once per connection."""

    def __init__(self, policy: AddressPolicy, deadline: float) -> None:
        self._policy = policy
        self._deadline = deadline
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._policy.addresses(host, port)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:  # each was checked; the next one if one is unreachable
            left = self._deadline - time.monotonic()
            if left <= 0:
                break
            try:
                stream = self._tcp.connect_tcp(
                    address,
                    port,
                    timeout=left if timeout is None else min(timeout, left),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure or httpcore.ConnectTimeout("the delivery's time is up")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.UnsupportedProtocol("webhooks go over TCP")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def default_ssl_context() -> ssl.SSLContext:
    """The system's CAs (SSL_CERT_FILE / SSL_CERT_DIR honoured) and certifi's."""
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    return context


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe(exc: BaseException) -> str:
    """A short reason for the admins: the kind of failure, never the far end's words."""
    chain = list(_chain(exc))

    def has(*kinds: type[BaseException]) -> bool:
        return any(isinstance(e, kinds) for e in chain)

    if has(AddressRefused):
        return "address not allowed"
    if has(Unresolvable):
        return "host name does not resolve"
    if has(httpcore.TimeoutException, TimeoutError):
        return "timed out"
    if has(ssl.SSLError, ssl.CertificateError):
        return "TLS error"
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(httpcore.UnsupportedProtocol):
        return "unsupported URL"
    if has(httpcore.ConnectError):
        return "could not connect"
    if has(httpcore.RemoteProtocolError):
        return "no valid HTTP answer"
    if has(httpcore.ReadError, httpcore.WriteError, ConnectionError):
        return "connection lost"
    return "delivery failed"


class Sender:
    """POSTs webhook bodies under an address policy and a total time limit."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        timeout_seconds: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.timeout_seconds = timeout_seconds
        # made once: loading the CA bundle is the slow part of a TLS connection's set-up
        self._ssl = ssl_context or default_ssl_context()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """Send once; the outcome, never an exception (bar programming errors)."""
        deadline = time.monotonic() + self.timeout_seconds
        t = self.timeout_seconds
        pool = httpcore.ConnectionPool(
            ssl_context=self._ssl,
            max_connections=1,
            network_backend=_GuardedBackend(self.policy, deadline),
        )
        try:
            with (
                pool,
                pool.stream(
                    "POST",
                    url,
                    headers=[("User-Agent", USER_AGENT), *headers.items()],
                    content=body,
                    extensions={"timeout": {"connect": t, "read": t, "write": t, "pool": t}},
                ) as response,
            ):
                code = response.status  # the body is not read: only its status counts
        except Exception as exc:
            reason = describe(exc)
            log.info("webhook POST failed: %s (%s)", reason, exc.__class__.__name__)
            return Outcome(None, reason)
        return Outcome(code, None if 200 <= code < 300 else f"receiver answered {code}")
