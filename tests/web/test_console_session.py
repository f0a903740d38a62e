"""Signing in to the console: cookies, forgery protection, sign-out and revocation."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppFactory, key_for


@pytest.fixture
def console(make_client: AppFactory, database_url: str) -> TestClient:
    """The app with no API key header: the console signs in with a cookie."""
    return make_client(database_url)


def _login_token(client: TestClient) -> str:
    page = client.get("/ui/login")
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def _sign_in(client: TestClient, key: str) -> str:
    """Sign in; returns the page's anti-forgery token."""
    admin_key = client.headers.pop("X-API-Key", None)
    token = _login_token(client)
    response = client.post(
        "/ui/login",
        data={"api_key": key, "csrf_token": token, "next": "/ui/calls"},
        follow_redirects=False,
    )
    if admin_key:
        client.headers["X-API-Key"] = admin_key
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    page = client.get("/ui/calls", headers={"X-API-Key": ""})
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def test_sign_in_sets_a_strict_http_only_cookie_and_opens_the_calls(console: TestClient) -> None:
    _, key = key_for(console, "dispatcher", name="Dana Test")
    _sign_in(console, key)
    console.headers.pop("X-API-Key", None)
    page = console.get("/ui/calls")
    assert page.status_code == 200
    assert "Dana Test" in page.text


def test_sign_in_with_a_bad_key_says_so_next_to_the_field(console: TestClient) -> None:
    console.headers.pop("X-API-Key", None)
    token = _login_token(console)
    response = console.post("/ui/login", data={"api_key": "hd_nope_nope", "csrf_token": token})
    assert response.status_code == 401
    assert 'aria-invalid="true"' in response.text
    assert "not known" in response.text
    assert "hd_session" not in response.headers.get("set-cookie", "")


def test_sign_in_without_the_form_token_is_refused(console: TestClient) -> None:
    _, key = key_for(console, "dispatcher")
    console.headers.pop("X-API-Key", None)
    response = console.post("/ui/login", data={"api_key": key, "csrf_token": "forged"})
    assert response.status_code == 401
    assert "expired" in response.text
    assert console.get("/ui/calls", follow_redirects=False).status_code == 303


def test_post_without_csrf_token_is_refused_and_changes_nothing(console: TestClient) -> None:
    _person_id, key = key_for(console, "dispatcher")
    _sign_in(console, key)
    console.headers.pop("X-API-Key", None)
    before = console.get("/ui/calls").text
    forged = console.post("/ui/calls", data={"caller_name": "Mallory", "urgency": "degraded"})
    assert forged.status_code == 403
    assert "expired or came from another site" in forged.text
    cross = console.post(
        "/ui/calls",
        data={"caller_name": "Mallory", "csrf_token": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert "Mallory" not in console.get("/ui/calls").text
    assert before.count("Mallory") == 0


def test_sign_out_ends_the_session_even_for_a_copied_cookie(console: TestClient) -> None:
    _, key = key_for(console, "engineer")
    csrf = _sign_in(console, key)
    console.headers.pop("X-API-Key", None)
    copied = dict(console.cookies)
    out = console.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    console.cookies.clear()
    for name, value in copied.items():
        console.cookies.set(name, value)
    again = console.get("/ui/escalations", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/ui/login")


def test_revoking_the_key_ends_its_console_sessions(console: TestClient) -> None:
    admin_key = console.headers["X-API-Key"]
    _, key = key_for(console, "dispatcher")
    _sign_in(console, key)
    key_id = next(k["id"] for k in console.get("/keys").json() if k["prefix"] in key)
    assert console.post(f"/keys/{key_id}/revoke").status_code in (200, 204)
    console.headers.pop("X-API-Key", None)
    response = console.get("/ui/calls", follow_redirects=False)
    assert response.status_code == 303
    console.headers["X-API-Key"] = admin_key


def test_integration_client_keys_cannot_sign_in(console: TestClient) -> None:
    client_id = console.post("/clients", json={"name": "ris-bridge", "scopes": ["search"]}).json()[
        "id"
    ]
    key = console.post("/keys", json={"name": "bridge", "client_id": client_id}).json()["key"]
    console.headers.pop("X-API-Key", None)
    token = _login_token(console)
    response = console.post("/ui/login", data={"api_key": key, "csrf_token": token})
    assert response.status_code == 401
    assert "integration client keys cannot sign in" in response.text


def test_sign_in_never_redirects_to_another_site(console: TestClient) -> None:
    _, key = key_for(console, "dispatcher")
    console.headers.pop("X-API-Key", None)
    token = _login_token(console)
    response = console.post(
        "/ui/login",
        data={"api_key": key, "csrf_token": token, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ui"


def test_pages_without_a_session_redirect_to_sign_in(console: TestClient) -> None:
    console.headers.pop("X-API-Key", None)
    response = console.get("/ui/escalations", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=/ui/escalations"
    assert console.get("/ui/static/console.js").status_code == 200
