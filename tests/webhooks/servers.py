"""Real receivers on 127.0.0.1 for the webhook tests: an HTTP one that counts, answers a
chosen status or hangs; a TCP port that answers with a banner; a TLS certificate."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from app.webhooks.signing import SIGNATURE_HEADER, verify


class Hub:
    """An HTTP receiver: every POST recorded (path, headers, body), answered with `status`,
    or held open until `release()` while `hang` is set."""

    def __init__(self, status: int = 204, *, context: ssl.SSLContext | None = None) -> None:
        self.status = status
        self.hang = False
        self.released = threading.Event()
        self.requests: list[tuple[str, dict[str, str], bytes, float]] = []
        self.hanging = 0
        self.sni: list[str | None] = []
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hub.hang:
                    with hub._lock:
                        hub.hanging += 1
                    hub.released.wait(60)
                    return
                with hub._lock:
                    hub.requests.append((self.path, dict(self.headers), body, time.monotonic()))
                self.send_response(hub.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if context is not None:

            def note_sni(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: object) -> None:
                self.sni.append(name)

            context.sni_callback = note_sni
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def deliveries(self) -> Counter[str]:
        """How many times each delivery id arrived."""
        with self._lock:
            return Counter(h["X-Helpdesk-Delivery"] for _, h, _, _ in self.requests)

    def all_verify(self, secret: str) -> bool:
        with self._lock:
            return all(verify(secret, h[SIGNATURE_HEADER], b) for _, h, b, _ in self.requests)


def wait_until(condition: Callable[[], object], seconds: float = 15) -> bool:
    """Poll `condition` until it holds or the deadline passes; whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


class Banner:
    """A TCP port that answers whatever it is sent with a service banner, then closes."""

    TEXT = b"SSH-2.0-OpenSSH_9.6 internal-build-host db-primary\r\n"

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(self.TEXT)
                    conn.shutdown(socket.SHUT_WR)
                    # read the rest until the client hangs up: closing with its request
                    # unread would reset the connection before the banner is seen
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tls_files(folder: Path, host: str = "localhost") -> tuple[Path, Path, Path]:
    """A CA, and a certificate for `host` signed by it: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def cert(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: str,
        signer: ec.EllipticCurvePrivateKey,
        ca: bool,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = cert("test CA", ca_key, "test CA", ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = cert(host, key, "test CA", ca_key, False)
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


SECRET = "s3cret-s3cret-s3cret"


def subscribe(client: TestClient, url: str) -> httpx.Response:
    """Subscribe `url` to call.opened with SECRET (the answer, refused or not)."""
    response: httpx.Response = client.post(
        "/webhooks/subscriptions",
        json={"url": url, "secret": SECRET, "event_types": ["call.opened"]},
    )
    return response


def subscribed(client: TestClient, url: str) -> None:
    """Subscribe `url`, which must be accepted."""
    response = subscribe(client, url)
    assert response.status_code == 201, response.text


def open_call(client: TestClient) -> int:
    """Open a call (its call.opened event goes to the subscribers); returns its id."""
    site = client.post("/sites", json={"hospital": "General"}).json()
    response = client.post(
        "/calls",
        json={"caller_name": "Ann", "site_id": site["id"], "modality": "MR", "urgency": "degraded"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])
