"""Call pages without JavaScript: plain forms post, redirect and show errors in place."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.db import transaction
from scripts.load_demo import load_demo


@pytest.fixture
def signed_in(seeded: TestClient) -> tuple[TestClient, str, dict[str, int]]:
    """A console session as the demo dispatcher on the seeded library; (client, csrf, assets)."""
    with transaction(seeded.app.state.sessions) as session:  # type: ignore[attr-defined]
        demo = load_demo(session=session)
    seeded.headers.pop("X-API-Key", None)
    page = seeded.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    seeded.post(
        "/ui/login", data={"api_key": demo.keys["Dana Reyes"], "csrf_token": token.group(1)}
    )
    calls = seeded.get("/ui/calls")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', calls.text)
    assert csrf
    return seeded, csrf.group(1), demo.assets


def _open_call(client: TestClient, csrf: str, asset_id: int) -> int:
    response = client.post(
        "/ui/calls",
        data={
            "csrf_token": csrf,
            "asset_id": str(asset_id),
            "caller_name": "Sam Patel",
            "callback_number": "+44 20 7946 9999",
            "urgency": "degraded",
            "symptom": "table will not move into the bore",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/ui/calls/")[1].split("?")[0])


def test_create_call_with_missing_fields_shows_errors_next_to_them(signed_in) -> None:
    client, csrf, _ = signed_in
    response = client.post("/ui/calls", data={"csrf_token": csrf, "caller_name": "Sam"})
    assert response.status_code == 422
    assert 'id="asset_id-error"' in response.text
    assert 'value="Sam"' in response.text  # what was typed is kept


def test_live_results_do_not_touch_the_timeline_but_enter_records(signed_in) -> None:
    client, csrf, assets = signed_in
    call_id = _open_call(client, csrf, assets["NV-CT-40811"])
    live = client.get(f"/ui/calls/{call_id}/results", params={"q": "table will not move"})
    assert live.status_code == 200
    assert 'data-swap="#results"' in live.text
    assert "Table will not move" in live.text
    assert client.get(f"/calls/{call_id}").status_code == 401  # the API still needs a key
    page = client.get(f"/ui/calls/{call_id}")
    assert "Searched" not in page.text
    recorded = client.post(
        f"/ui/calls/{call_id}/search", data={"csrf_token": csrf, "q": "table will not move"}
    )
    assert recorded.status_code == 200
    assert "Searched “table will not move”" in recorded.text


def test_outcome_without_script_redirects_and_demotes_the_article(signed_in) -> None:
    client, csrf, assets = signed_in
    call_id = _open_call(client, csrf, assets["NV-CT-40811"])
    page = client.get(f"/ui/calls/{call_id}", params={"q": "table will not move"})
    first = re.search(r'data-article="(\d+)"', page.text)
    assert first
    article_id = first.group(1)
    response = client.post(
        f"/ui/calls/{call_id}/attempts",
        data={
            "csrf_token": csrf,
            "article_id": article_id,
            "outcome": "no_change",
            "note": "drive clutch engaged",
            "q": "table will not move",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    after = client.get(response.headers["location"])
    ranked = re.findall(r'data-article="(\d+)" class="([^"]*)"', after.text)
    assert ranked[-1] == (article_id, "demoted")
    assert all(cls == "" for _, cls in ranked[:-1])
    assert "drive clutch engaged" in after.text
    assert "Searched “table will not move”" in after.text  # the search acted on is kept


def test_unknown_call_shows_a_not_found_page(signed_in) -> None:
    client, _, _ = signed_in
    response = client.get("/ui/calls/999999")
    assert response.status_code == 404
    assert "no call with id 999999" in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_resolve_without_the_fixing_article_says_so_next_to_the_field(signed_in) -> None:
    client, csrf, assets = signed_in
    call_id = _open_call(client, csrf, assets["NV-CT-40811"])
    response = client.post(f"/ui/calls/{call_id}/resolve", data={"csrf_token": csrf})
    assert response.status_code == 422
    assert 'id="article_id-error"' in response.text
    assert "open" in client.get(f"/ui/calls/{call_id}").text


def test_read_only_role_sees_the_call_but_not_the_work_controls(seeded: TestClient) -> None:
    with transaction(seeded.app.state.sessions) as session:  # type: ignore[attr-defined]
        demo = load_demo(session=session)
    seeded.headers.pop("X-API-Key", None)

    def sign_in(name: str) -> str:
        seeded.cookies.clear()
        page = seeded.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        seeded.post("/ui/login", data={"api_key": demo.keys[name], "csrf_token": token.group(1)})
        calls = seeded.get("/ui/calls")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', calls.text)
        assert csrf
        return csrf.group(1)

    call_id = _open_call(seeded, sign_in("Dana Reyes"), demo.assets["NV-CT-40811"])
    csrf = sign_in("Farid Haddad")  # field engineer: calls:read, not calls:work
    page = seeded.get(f"/ui/calls/{call_id}")
    assert page.status_code == 200
    assert 'data-testid="owner">Dana Reyes' in page.text
    assert "table will not move into the bore" in page.text
    assert 'name="outcome"' not in page.text
    assert "/resolve" not in page.text
    assert seeded.get(f"/ui/calls/{call_id}/results", params={"q": "table"}).status_code == 403
    refused = seeded.post(f"/ui/calls/{call_id}/notes", data={"csrf_token": csrf, "text": "x"})
    assert refused.status_code == 403
