"""A live search whose results the dispatcher saw counts as a search (issues 19 and 20)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Request, expect

from app.db import transaction
from scripts.load_demo import Demo, load_demo
from tests.web.conftest import Live, sign_in
from tests.web.test_call_console import _start_call

QUERY = "popping noise and streaks in the images"
DEBOUNCE = 250  # a little over the call screen's data-debounce
SETTLE = 2000


# -- helpers -------------------------------------------------------------------------


def _searches(page: Page, live: Live, call_id: str) -> list[dict[str, Any]]:
    """The call's recorded searches, read over the API with the dispatcher's key."""
    response = page.request.get(
        f"{live.url}/calls/{call_id}", headers={"X-API-Key": live.demo.keys["Dana Reyes"]}
    )
    assert response.ok, response.text()
    return [e["data"] for e in response.json()["timeline"] if e["kind"] == "searched"]


def _missing(page: Page, live: Live, call_id: str) -> list[str]:
    response = page.request.get(
        f"{live.url}/calls/{call_id}/escalation-check",
        headers={"X-API-Key": live.demo.keys["Dana Reyes"]},
    )
    assert response.ok, response.text()
    return [m["field"] for m in response.json()["missing"]]


def _is_shown(request: Request) -> bool:
    return request.method == "POST" and request.url.endswith("/shown")


def _posted_queries(requests: list[Request]) -> list[str]:
    return [parse_qs(r.post_data or "")["q"][0] for r in requests]


def _show(page: Page, text: str) -> None:
    """Type into the box (one input event) and wait until its live results are on screen."""
    page.evaluate("delete document.body.dataset.lastResultMs")
    page.fill("#q", text)
    page.clock.run_for(DEBOUNCE)
    expect(page.locator("body")).to_have_attribute("data-last-result-ms", re.compile(r"\d+"))


def _paused_call(page: Page, live: Live) -> str:
    """A system-down call on screen, with the page's timers on a clock the test moves."""
    page.clock.install()
    sign_in(page, live, "Dana Reyes")
    call_id = _start_call(page, live)
    page.locator("form[data-live]").evaluate(f"f => f.dataset.shownSettle = '{SETTLE}'")
    page.clock.pause_at(datetime.now() + timedelta(hours=1))
    return call_id


# -- in the browser ------------------------------------------------------------------


def test_live_results_the_dispatcher_saw_count_as_a_search(page: Page, live: Live) -> None:
    sign_in(page, live, "Dana Reyes")
    call_id = _start_call(page, live)
    assert "searches" in _missing(page, live, call_id)
    page.locator("form[data-live]").evaluate("f => f.dataset.shownSettle = '300'")

    with page.expect_response(lambda r: _is_shown(r.request)) as recorded:
        page.fill("#q", QUERY)  # no Enter
    assert recorded.value.status == 200

    searches = _searches(page, live, call_id)
    assert [(s["query"], s.get("via")) for s in searches] == [(QUERY, "live")]
    assert searches[0]["results"], "what was shown is on the timeline"
    assert "searches" not in _missing(page, live, call_id)
    expect(page.locator("#timeline")).to_contain_text(f"Searched “{QUERY}”")


def test_typing_on_before_the_settle_time_records_only_the_final_query(
    page: Page, live: Live
) -> None:
    call_id = _paused_call(page, live)
    posted: list[Request] = []
    page.on("request", lambda r: posted.append(r) if _is_shown(r) else None)

    _show(page, "popping noise")
    page.clock.run_for(SETTLE // 2)  # the dispatcher reads, then types on
    _show(page, QUERY)
    with page.expect_response(lambda r: _is_shown(r.request)) as recorded:
        page.clock.run_for(SETTLE)  # the first query's time would have come first
    assert recorded.value.status == 200

    assert _posted_queries(posted) == [QUERY]
    assert [s["query"] for s in _searches(page, live, call_id)] == [QUERY]


def test_the_same_query_shown_twice_is_recorded_once(page: Page, live: Live) -> None:
    call_id = _paused_call(page, live)
    _show(page, QUERY)
    with page.expect_response(lambda r: _is_shown(r.request)) as first:
        page.clock.run_for(SETTLE)
    assert first.value.status == 200

    page.fill("#q", QUERY + " x")  # typed and taken back before the results changed
    _show(page, QUERY)
    with page.expect_response(lambda r: _is_shown(r.request)) as again:
        page.clock.run_for(SETTLE)
    assert again.value.status == 204

    # Enter on the same query records nothing new either
    with page.expect_response(lambda r: r.url.endswith("/search")):
        page.locator("#q").press("Enter")
    assert [s["query"] for s in _searches(page, live, call_id)] == [QUERY]


def test_escalating_right_after_seeing_results_is_not_refused(page: Page, live: Live) -> None:
    """Issue 20: results seen, no Enter, straight to escalate on a system-down call."""
    call_id = _paused_call(page, live)
    _show(page, QUERY)
    # before the settle time: leaving by the escalate link records what was shown first
    with page.expect_response(lambda r: _is_shown(r.request)):
        page.click("a[data-shortcut=e]")
    page.wait_for_url(f"**/ui/calls/{call_id}/escalate")
    expect(page.get_by_test_id("missing")).not_to_contain_text("run at least one search")
    page.fill("#reason", "Arcing persists; tube needs a field visit")
    page.fill("#nothing_applicable", "The suggested fixes need the covers off")
    page.get_by_test_id("send").click()
    page.wait_for_url(re.compile(rf".*/ui/calls/{call_id}\?done=escalated"))
    assert [s.get("via") for s in _searches(page, live, call_id)] == ["live"]


# -- over plain HTTP -----------------------------------------------------------------


@pytest.fixture
def console(seeded: TestClient) -> tuple[TestClient, Demo]:
    """The seeded app with the demo people; the client carries no API key."""
    with transaction(seeded.app.state.sessions) as session:  # type: ignore[attr-defined]
        demo = load_demo(session=session)
    seeded.headers.pop("X-API-Key", None)
    return seeded, demo


def _sign_in(client: TestClient, key: str) -> str:
    """A console session for the key; returns its anti-forgery token."""
    login = client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token
    client.post("/ui/login", data={"api_key": key, "csrf_token": token[1]})
    page = client.get("/ui/calls")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text
    return csrf[1]


def _open_call(client: TestClient, csrf: str, asset_id: int) -> int:
    response = client.post(
        "/ui/calls",
        data={
            "csrf_token": csrf,
            "asset_id": str(asset_id),
            "caller_name": "Sam Patel",
            "callback_number": "+44 20 7946 9999",
            "urgency": "system_down",
            "symptom": "table will not move into the bore",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/ui/calls/")[1].split("?")[0])


def _recorded(client: TestClient, demo: Demo, call_id: int) -> list[dict[str, Any]]:
    key = {"X-API-Key": demo.keys["Dana Reyes"]}
    timeline = client.get(f"/calls/{call_id}", headers=key).json()["timeline"]
    return [e["data"] for e in timeline if e["kind"] == "searched"]


def test_shown_route_records_once_and_needs_the_form_token(
    console: tuple[TestClient, Demo],
) -> None:
    client, demo = console
    csrf = _sign_in(client, demo.keys["Dana Reyes"])
    call_id = _open_call(client, csrf, demo.assets["NV-CT-40811"])
    shown = f"/ui/calls/{call_id}/shown"

    live = client.get(f"/ui/calls/{call_id}/results", params={"q": "table will not move"})
    assert live.headers["X-Record-Shown"] == shown
    blank = client.get(f"/ui/calls/{call_id}/results", params={"q": " "})
    assert "X-Record-Shown" not in blank.headers  # nothing shown, nothing to record

    assert client.post(shown, data={"q": "table will not move"}).status_code == 403
    forged = {"csrf_token": "forged", "q": "table will not move"}
    assert client.post(shown, data=forged).status_code == 403
    assert client.post(shown, data={"csrf_token": csrf, "q": "   "}).status_code == 204
    assert _recorded(client, demo, call_id) == []

    first = client.post(shown, data={"csrf_token": csrf, "q": " table will not move "})
    assert first.status_code == 200
    assert 'data-swap="#timeline"' in first.text
    assert "Searched “table will not move”" in first.text
    again = client.post(shown, data={"csrf_token": csrf, "q": "table will not move"})
    assert again.status_code == 204
    searches = _recorded(client, demo, call_id)
    assert [(s["query"], s["via"]) for s in searches] == [("table will not move", "live")]
    assert searches[0]["filters"]["modality"] == "CT"
    key = {"X-API-Key": demo.keys["Dana Reyes"]}
    check = client.get(f"/calls/{call_id}/escalation-check", headers=key).json()
    assert "searches" not in [m["field"] for m in check["missing"]]

    # another query, then the first again: not a repeat of the latest, so recorded
    for q in ("table stuck", "table will not move"):
        assert client.post(shown, data={"csrf_token": csrf, "q": q}).status_code == 200
    assert [s["query"] for s in _recorded(client, demo, call_id)] == [
        "table will not move",
        "table stuck",
        "table will not move",
    ]
    # Enter on the latest query adds nothing, and Enter's own searches carry no mark
    client.post(
        f"/ui/calls/{call_id}/search", data={"csrf_token": csrf, "q": "table will not move"}
    )
    client.post(f"/ui/calls/{call_id}/search", data={"csrf_token": csrf, "q": "bore table"})
    assert [s.get("via") for s in _recorded(client, demo, call_id)] == [
        "live",
        "live",
        "live",
        None,
    ]


def test_shown_route_needs_the_role_that_works_calls(console: tuple[TestClient, Demo]) -> None:
    client, demo = console
    csrf = _sign_in(client, demo.keys["Dana Reyes"])
    call_id = _open_call(client, csrf, demo.assets["NV-CT-40811"])
    client.post("/ui/logout", data={"csrf_token": csrf})
    client.cookies.clear()
    engineer = _sign_in(client, demo.keys["Farid Haddad"])
    refused = client.post(
        f"/ui/calls/{call_id}/shown", data={"csrf_token": engineer, "q": "table stuck"}
    )
    assert refused.status_code == 403
    assert _recorded(client, demo, call_id) == []
