"""The console's security headers (a CSP without inline script, no framing, nosniff, a
referrer policy), no CSP violation on its main screens in Chromium, and Secure cookies
for HTTPS relayed by a trusted proxy only."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import ConsoleMessage, Page, expect

from app.auth import service as auth_service
from app.config import Settings
from app.db import transaction
from app.main import create_app
from embeddings.encoder import Encoder
from scripts.context import serve_in_thread
from tests.web.conftest import Live, sign_in

CSP_PARTS = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)

# collects every CSP violation of the page, before any of the page's own code runs
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def assert_console_headers(response: httpx.Response) -> None:
    """Every security header a console response carries."""
    policy = response.headers["content-security-policy"]
    for part in CSP_PARTS:
        assert part in policy, f"{part!r} missing from {policy!r}"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


# -- headers over HTTP ---------------------------------------------------------------


def test_console_responses_and_error_pages_carry_the_headers(live: Live) -> None:
    with httpx.Client(base_url=live.url, follow_redirects=False) as http:
        for path in ("/ui/login", "/ui", "/ui/calls", "/ui/static/console.js", "/ui/nowhere"):
            assert_console_headers(http.get(path))
        # an error page rendered for the console: a role without the screen
        login = http.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token
        key = live.demo.keys["Dana Reyes"]
        http.post("/ui/login", data={"api_key": key, "csrf_token": token[1]})
        refused = http.get("/ui/articles")
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
        assert_console_headers(refused)
        # the API: nosniff, and no page policy
        health = http.get("/health")
        assert health.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in health.headers


# -- the console in Chromium -----------------------------------------------------------


@pytest.fixture
def watched(page: Page) -> tuple[Page, list[str]]:
    """The page with CSP violations recorded, from events and from the console."""
    logged: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            logged.append(message.text)

    page.on("console", note)
    page.add_init_script(WATCH)
    return page, logged


def violations(page: Page, logged: list[str]) -> list[str]:
    """What the page reported so far."""
    reported: list[str] = page.evaluate("window.__csp || []")
    return reported + logged


def visit(page: Page, logged: list[str], url: str) -> None:
    """Open a screen, check its headers and that nothing broke the policy."""
    response = page.goto(url)
    assert response is not None
    headers = response.all_headers()
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    page.wait_for_load_state("load")
    assert violations(page, logged) == [], url


def test_main_screens_break_no_policy(watched: tuple[Page, list[str]], live: Live) -> None:
    page, logged = watched
    visit(page, logged, f"{live.url}/ui/login")
    sign_in(page, live, "Dana Reyes")
    assert violations(page, logged) == []
    # the dispatcher's start screen is intake
    visit(page, logged, f"{live.url}/ui")
    expect(page).to_have_url(re.compile(r".*/ui/calls$"))
    made = page.request.post(
        f"{live.url}/calls",
        headers={"X-API-Key": live.demo.keys["Dana Reyes"]},
        data={
            "asset_id": live.demo.assets["NV-CT-40811"],
            "caller_name": "Sam Patel",
            "callback_number": "+44 20 7946 9999",
            "urgency": "degraded",
            "symptom": "table will not move",
        },
    )
    assert made.ok, made.text()
    visit(page, logged, f"{live.url}/ui/calls/{made.json()['id']}")
    # the live search swaps fragments into the page
    page.evaluate("delete document.body.dataset.lastResultMs")
    page.fill("#q", "table will not move")
    expect(page.locator("body")).to_have_attribute("data-last-result-ms", re.compile(r"\d+"))
    assert violations(page, logged) == []

    # off the call screen first: its polling would follow a 401 to the sign-in page
    page.goto("about:blank")
    page.context.clear_cookies()
    sign_in(page, live, "Erik Lindqvist")
    visit(page, logged, f"{live.url}/ui/articles")
    page.locator("table a").first.click()
    page.wait_for_url(re.compile(r".*/ui/articles/\d+$"))
    visit(page, logged, f"{page.url}/edit")
    expect(page.locator("#title")).to_be_visible()
    visit(page, logged, f"{live.url}/ui/gaps")
    assert violations(page, logged) == []


def test_the_watch_sees_a_violation(watched: tuple[Page, list[str]], live: Live) -> None:
    page, logged = watched
    page.goto(f"{live.url}/ui/login")
    # an inline script added to the page is refused, and the test would notice
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = 1'; document.body.append(s); }"
    )
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__ran") is None
    assert any("script-src" in v for v in violations(page, logged))


# -- Secure cookies behind a proxy ---------------------------------------------------

Seen = Callable[..., tuple[TestClient, str]]

HTTPS = {"X-Forwarded-Proto": "https"}


def secure(response: httpx.Response, name: str) -> bool:
    """Whether the response sets cookie `name` with the Secure attribute."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return "secure" in [a.strip().lower() for a in header.split(";")]
    raise AssertionError(f"no {name} cookie set: {response.headers.get_list('set-cookie')}")


def signed_in(http: httpx.Client, key: str, headers: dict[str, str]) -> httpx.Response:
    """The sign-in's answer (its form's cookie sent by hand: a Secure one is not sent
    back over plain HTTP by the client)."""
    form = http.get("/ui/login", headers=headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    cookie = {"Cookie": f"hd_login={form.cookies['hd_login']}"}
    data = {"api_key": key, "csrf_token": token[1]}
    done = http.post("/ui/login", data=data, headers={**headers, **cookie})
    assert done.status_code == 303, done.text
    return done


@pytest.fixture
def served(encoder: Encoder, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real uvicorn (its own proxy-header handling on, as by default) serving the app,
    which believes only 127.0.0.1; yields its URL and an admin key."""
    settings = Settings(
        data_dir=tmp_path / "served",
        forwarded_allow_ips="127.0.0.1",
        webhook_worker=False,
        scheduler=False,
    )
    app = create_app(settings, encoder=encoder)
    with serve_in_thread(app) as url:
        with transaction(app.state.sessions) as session:
            key = auth_service.bootstrap_admin(session=session, name="Admin", only_if_empty=False)
        assert key
        yield url, key


def from_address(url: str, address: str) -> httpx.Client:
    """A client whose connections come from `address` (any 127.x works on loopback)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=url, transport=transport, follow_redirects=False)


def test_https_from_the_trusted_proxy_gets_secure_cookies(served: tuple[str, str]) -> None:
    url, key = served
    with from_address(url, "127.0.0.1") as proxy:
        assert secure(proxy.get("/ui/login", headers=HTTPS), "hd_login")
        assert secure(signed_in(proxy, key, HTTPS), "hd_session")
        # the same proxy relaying plain HTTP
        assert not secure(proxy.get("/ui/login"), "hd_login")
        assert not secure(signed_in(proxy, key, {}), "hd_session")


def test_a_sender_not_trusted_cannot_claim_https(served: tuple[str, str]) -> None:
    url, key = served
    with from_address(url, "127.0.0.2") as stranger:
        assert not secure(stranger.get("/ui/login", headers=HTTPS), "hd_login")
        assert not secure(signed_in(stranger, key, HTTPS), "hd_session")


@pytest.fixture
def app_seen_from(encoder: Encoder, tmp_path: Path) -> Iterator[Seen]:
    """The app alone (no uvicorn in front), seen from a given address, with settings."""
    opened: list[TestClient] = []

    def start(address: str, **overrides: object) -> tuple[TestClient, str]:
        data_dir = tmp_path / f"app{len(opened)}"
        values: dict[str, object] = {"data_dir": data_dir, "webhook_worker": False}
        settings = Settings(**(values | {"scheduler": False} | overrides))  # type: ignore[arg-type]
        client = TestClient(
            create_app(settings, encoder=encoder), client=(address, 40000), follow_redirects=False
        )
        client.__enter__()
        opened.append(client)
        with transaction(client.app.state.sessions) as session:  # type: ignore[attr-defined]
            key = auth_service.bootstrap_admin(session=session, name="A", only_if_empty=False)
        assert key
        return client, key

    yield start
    for client in opened:
        client.__exit__(None, None, None)


def test_the_app_itself_believes_only_its_proxies(app_seen_from: Seen) -> None:
    proxy, _ = app_seen_from("10.0.0.5", forwarded_allow_ips="10.0.0.0/24")
    assert secure(proxy.get("/ui/login", headers=HTTPS), "hd_login")
    stranger, _ = app_seen_from("203.0.113.5", forwarded_allow_ips="10.0.0.0/24")
    assert not secure(stranger.get("/ui/login", headers=HTTPS), "hd_login")
    nobody, _ = app_seen_from("127.0.0.1", forwarded_allow_ips="")
    assert not secure(nobody.get("/ui/login", headers=HTTPS), "hd_login")


def test_web_secure_cookies_still_forces_secure(app_seen_from: Seen) -> None:
    client, key = app_seen_from("203.0.113.5", web_secure_cookies=True)
    assert secure(client.get("/ui/login"), "hd_login")
    assert secure(signed_in(client, key, {}), "hd_session")
