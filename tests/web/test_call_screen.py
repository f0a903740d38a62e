"""The dispatcher's call screen (issue 20): details edited in place, cancel, resolve without
an article, the scanner's history, live targets and the defects the review found."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from app.db import transaction
from scripts.load_demo import Demo, load_demo
from tests.web.conftest import Live, sign_in

QUERY = "popping noise and streaks in the images"
SYMPTOM = "CT makes a popping sound and the images have streaks"


def _api(page: Page, live: Live) -> dict[str, str]:
    return {"X-API-Key": live.demo.keys["Dana Reyes"]}


def _call(page: Page, live: Live, call_id: str) -> dict[str, Any]:
    response = page.request.get(f"{live.url}/calls/{call_id}", headers=_api(page, live))
    assert response.ok, response.text()
    data: dict[str, Any] = response.json()
    return data


def _api_call(page: Page, live: Live, symptom: str = SYMPTOM, urgency: str = "system_down") -> str:
    """A call on the demo CT scanner, opened over the API (the intake screen is another's)."""
    made = page.request.post(
        f"{live.url}/calls",
        headers=_api(page, live),
        data={
            "asset_id": live.demo.assets["NV-CT-40811"],
            "caller_name": "Sam Patel",
            "callback_number": "+44 20 7946 9999",
            "urgency": urgency,
            "symptom": symptom,
        },
    )
    assert made.ok, made.text()
    return str(made.json()["id"])


def _start_call(page: Page, live: Live) -> str:
    """Signed in as the dispatcher, on the screen of a new call."""
    sign_in(page, live, "Dana Reyes")
    call_id = _api_call(page, live)
    page.goto(f"{live.url}/ui/calls/{call_id}")
    return call_id


def _results_on_screen(page: Page) -> None:
    """Type the query and wait for its live results."""
    page.evaluate("delete document.body.dataset.lastResultMs")
    page.fill("#q", QUERY)
    expect(page.locator("body")).to_have_attribute("data-last-result-ms", re.compile(r"\d+"))


# -- in the browser ------------------------------------------------------------------


def test_details_edited_in_place_and_a_clash_is_named_keeping_what_was_typed(
    page: Page, live: Live
) -> None:
    call_id = _start_call(page, live)
    expect(page.locator("h1")).to_contain_text(f"Call #{call_id}")

    page.get_by_text("Edit the call's details").click()
    page.fill("#edit-software_version", "VB20A")
    page.fill("#edit-screen_message", "HV-417 arc detected")
    page.check("#edit-patient_on_table")
    page.get_by_test_id("save-details").click()
    page.wait_for_url(re.compile(r".*done=edited"))
    expect(page.get_by_test_id("detail-software_version")).to_have_text("VB20A")
    expect(page.get_by_test_id("detail-patient_on_table")).to_have_text("yes")
    expect(page.locator("#timeline li").first).to_contain_text("software version")

    # someone else saves first: the caller's name changes under the dispatcher's form
    page.get_by_text("Edit the call's details").click()
    page.fill("#edit-callback_number", "+44 20 7946 1234")
    version = _call(page, live, call_id)["version"]
    other = page.request.patch(
        f"{live.url}/calls/{call_id}",
        headers={**_api(page, live), "If-Match": f'"{version}"'},
        data={"caller_name": "Jo Bloggs"},
    )
    assert other.ok, other.text()
    page.get_by_test_id("save-details").click()

    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("Someone else changed this call")
    expect(summary).to_contain_text("Caller is now “Jo Bloggs”")
    expect(summary).to_be_focused()
    expect(page.locator("#edit-callback_number")).to_have_value("+44 20 7946 1234")
    expect(page.locator("#edit-caller_name")).to_have_value("Jo Bloggs")  # theirs, untouched
    page.get_by_test_id("save-details").click()
    page.wait_for_url(re.compile(r".*done=edited"))
    saved = _call(page, live, call_id)
    assert (saved["caller_name"], saved["callback_number"]) == ("Jo Bloggs", "+44 20 7946 1234")


def test_cancel_with_a_reason_is_one_timeline_entry(page: Page, live: Live) -> None:
    call_id = _start_call(page, live)
    expect(page.locator("#timeline li")).to_have_count(1)  # opened, with its owners folded in
    page.get_by_text("Cancel the call", exact=True).first.click()
    page.get_by_test_id("cancel").click()  # no reason: said in words, focus on it
    expect(page.locator("#error-summary")).to_contain_text("Say why the call ends")
    expect(page.locator("#cancel-reason")).to_be_focused()
    page.get_by_label("Duplicate of another call").check()
    page.fill("#cancel-note", "same as the call before")
    page.get_by_test_id("cancel").click()
    page.wait_for_url(re.compile(r".*done=cancelled"))
    expect(page.get_by_test_id("state")).to_have_text("cancelled")
    latest = page.locator("#timeline li").first
    expect(latest).to_contain_text("Cancelled: duplicate — same as the call before")
    expect(page.locator("#timeline li")).to_have_count(2)
    assert _call(page, live, call_id)["cancel_reason"] == "duplicate"


def test_fixed_offers_to_resolve_with_that_article(page: Page, live: Live) -> None:
    """Defect 3: `1` moves to the resolve form with the article chosen."""
    call_id = _start_call(page, live)
    _results_on_screen(page)
    page.keyboard.press("ArrowDown")
    first = page.locator("ol.results > li").first
    article_id = first.get_attribute("data-article")
    expect(first).to_be_focused()
    page.keyboard.press("1")
    resolve = page.get_by_test_id("resolve")
    expect(resolve).to_be_focused()
    expect(page.locator("#resolve-article_id")).to_have_value(str(article_id))
    expect(page.get_by_test_id("resolve-offer")).to_contain_text("fixed it")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/ui/calls/{call_id}\?done=resolved"))
    assert _call(page, live, call_id)["fixed_by_article_id"] == int(str(article_id))


def test_an_outcome_moves_on_to_the_next_untried_fix_with_steps_open(
    page: Page, live: Live
) -> None:
    """Defects 2 and 12: focus goes to the next untried fix, its steps open; the outcome
    and the search it was recorded on are one line of the timeline."""
    call_id = _start_call(page, live)
    _results_on_screen(page)
    items = page.locator("ol.results > li")
    second_id = items.nth(1).get_attribute("id")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(items.first.locator("details")).to_have_attribute("open", "")
    page.keyboard.press("2")
    expect(page.locator("ol.results > li.demoted")).to_have_count(1)
    following = page.locator(f"#{second_id}")
    expect(following).to_be_focused()
    expect(following.locator("details")).to_have_attribute("open", "")
    page.keyboard.press("j")  # j goes on from there
    expect(items.nth(1)).to_be_focused()

    latest = page.locator("#timeline li").first
    expect(latest).to_contain_text(f"Searched “{QUERY}”")
    expect(latest).to_contain_text("then tried")
    expect(page.locator("#timeline li")).to_have_count(2)  # opened; searched and tried
    kinds = [e["kind"] for e in _call(page, live, call_id)["timeline"]]
    assert kinds.count("searched") == 1  # the search still counts for escalation


def test_strength_in_words_and_no_good_match_folded_until_the_keyboard_goes_there(
    page: Page, live: Live
) -> None:
    """Each fix says strong, possible or weak; with no good match the screen says so and
    folds the list, which the arrow key from the search box opens."""
    _start_call(page, live)
    _results_on_screen(page)
    first = page.locator("ol.results > li").first.get_by_test_id("strength")
    expect(first).to_have_text("strong")
    expect(first).to_have_attribute("title", re.compile(r"confidence \d+%"))
    expect(page.get_by_test_id("no-match")).to_have_count(0)

    page.evaluate("delete document.body.dataset.lastResultMs")
    page.fill("#q", "the coffee machine in the staff room is leaking")
    expect(page.locator("body")).to_have_attribute("data-last-result-ms", re.compile(r"\d+"))
    expect(page.get_by_test_id("no-match")).to_contain_text(
        "No good match: escalate or capture an article."
    )
    items = page.locator("ol.results > li")
    expect(items.first).to_be_hidden()
    page.locator("#q").press("ArrowDown")
    expect(items.first).to_be_focused()
    expect(items.first.get_by_test_id("strength")).to_have_text("weak")


def test_status_bar_stays_on_screen_and_n_goes_to_the_note(page: Page, live: Live) -> None:
    """Defects 4, 5 and 11 (the persistent live region)."""
    _start_call(page, live)
    page.evaluate("window.region = document.getElementById('results-status')")
    _results_on_screen(page)
    assert page.evaluate(
        "window.region === document.getElementById('results-status') && "
        "window.region.textContent.includes('fixes for')"
    )
    expect(page.locator("#results [aria-live]")).to_have_count(0)

    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function("window.scrollY > 200")
    box = page.locator(".status-bar").bounding_box()
    assert box is not None
    assert -1 <= box["y"] <= 5, box

    page.keyboard.press("Escape")  # out of the search box
    page.keyboard.press("n")
    expect(page.locator("#note-text")).to_be_focused()
    expect(page.locator("#note-text")).to_have_value("")


def test_resolve_form_errors_are_summarised_and_focused(page: Page, live: Live) -> None:
    call_id = _start_call(page, live)
    page.get_by_test_id("resolve").click()
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("Pick the article that fixed it, or say how")
    expect(page.locator("#resolve-article_id")).to_be_focused()
    expect(page.locator("#resolve-article_id")).to_have_attribute("aria-invalid", "true")
    page.select_option("#resolve-reason", "no_fault_found")
    page.fill("#resolve-notes", "Rebooted the console; image quality normal")
    page.get_by_test_id("resolve").click()
    page.wait_for_url(re.compile(r".*done=resolved"))
    assert _call(page, live, call_id)["resolution_reason"] == "no_fault_found"
    expect(page.locator("#timeline li").first).to_contain_text("Resolved at tier 1: no fault found")


def test_response_target_counts_down_and_says_when_overdue(page: Page, live: Live) -> None:
    page.clock.install()
    call_id = _start_call(page, live)
    expect(page.get_by_test_id("target-resolution")).to_have_text(re.compile(r"7 h 5\d min left"))
    expect(page.get_by_test_id("target-response")).to_have_count(0)
    page.locator("#q").press("Enter")
    expect(page.locator("#timeline")).to_contain_text("Searched")
    page.goto(f"{live.url}/ui/calls/{call_id}/escalate")
    page.fill("#reason", "Arcing persists; tube needs a field visit")
    page.fill("#nothing_applicable", "The suggested fixes need the covers off")
    page.get_by_test_id("send").click()
    page.wait_for_url(re.compile(r".*done=escalated"))

    target = page.get_by_test_id("target-response")
    expect(target).to_have_text(re.compile(r"^(29|30) min left$"))  # the server's words
    due = datetime.fromisoformat(str(target.get_attribute("datetime")))
    page.clock.pause_at(due - timedelta(minutes=5))
    expect(target).to_have_text("5 min left")
    expect(target).not_to_have_class(re.compile("overdue"))
    page.clock.fast_forward("17:00")
    expect(target).to_have_text("overdue by 12 min")
    expect(target).to_have_class(re.compile("overdue"))


def test_scanner_history_and_repeat_fault(page: Page, live: Live) -> None:
    asset_id = live.demo.assets["NV-CT-40811"]
    for symptom in ("tube arcing during scan", "streaks after tube warm-up"):
        made = page.request.post(
            f"{live.url}/calls",
            headers=_api(page, live),
            data={
                "asset_id": asset_id,
                "caller_name": "Sam Patel",
                "callback_number": "+44 20 7946 9999",
                "urgency": "degraded",
                "symptom": symptom,
            },
        )
        assert made.ok, made.text()
    _start_call(page, live)
    history = page.get_by_test_id("history")
    expect(history.locator("li")).to_have_count(2)
    expect(history.locator("li").first).to_contain_text("streaks after tube warm-up")
    expect(history.locator("li").first).to_contain_text("Still open")
    expect(page.get_by_test_id("repeat-fault")).to_contain_text("Repeat fault")
    expect(page.get_by_test_id("repeat-badge")).to_have_text("repeat fault")


# -- over plain HTTP -----------------------------------------------------------------


@pytest.fixture
def console(seeded: TestClient) -> tuple[TestClient, Demo]:
    """The seeded app with the demo people; the client carries no API key."""
    with transaction(seeded.app.state.sessions) as session:  # type: ignore[attr-defined]
        demo = load_demo(session=session)
    seeded.headers.pop("X-API-Key", None)
    return seeded, demo


def _sign_in(client: TestClient, key: str) -> str:
    client.cookies.clear()
    login = client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token
    client.post("/ui/login", data={"api_key": key, "csrf_token": token[1]})
    page = client.get("/ui/calls")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text
    return csrf[1]


def _open(client: TestClient, csrf: str, asset_id: int) -> int:
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


def _details(version: int, **typed: str) -> dict[str, str]:
    was = {
        "was_caller_name": "Sam Patel",
        "was_callback_number": "+44 20 7946 9999",
        "was_symptom": "table will not move into the bore",
        "was_urgency": "degraded",
    }
    form = {k.removeprefix("was_"): v for k, v in was.items()}
    return {**was, **form, "version": str(version), **typed}


def test_forms_work_without_script_and_refuse_other_roles(
    console: tuple[TestClient, Demo],
) -> None:
    client, demo = console
    csrf = _sign_in(client, demo.keys["Dana Reyes"])
    call_id = _open(client, csrf, demo.assets["NV-CT-40811"])
    key = {"X-API-Key": demo.keys["Dana Reyes"]}
    version = client.get(f"/calls/{call_id}", headers=key).json()["version"]

    blank = _details(version, csrf_token=csrf, caller_name="")
    refused = client.post(f"/ui/calls/{call_id}/details", data=blank)
    assert refused.status_code == 422
    assert "Caller cannot be empty" in refused.text
    assert re.search(r'id="edit-caller_name"[^>]*autofocus', refused.text)

    edit = _details(version, csrf_token=csrf, site_contact="Ward sister on ext 4410")
    saved = client.post(f"/ui/calls/{call_id}/details", data=edit, follow_redirects=False)
    assert saved.status_code == 303
    assert client.get(f"/calls/{call_id}", headers=key).json()["site_contact"].startswith("Ward")
    stale = client.post(f"/ui/calls/{call_id}/details", data={**edit, "system_state": "down"})
    assert stale.status_code == 409
    assert "Site contact is now “Ward sister on ext 4410”" in stale.text

    # an outcome without the script: the search it was shown and the outcome, one line
    page = client.get(f"/ui/calls/{call_id}", params={"q": "table will not move"})
    article = re.search(r'data-article="(\d+)"', page.text)
    assert article
    form = {"csrf_token": csrf, "article_id": article[1], "outcome": "fixed", "q": "table"}
    tried = client.post(f"/ui/calls/{call_id}/attempts", data=form, follow_redirects=False)
    assert tried.headers["location"].endswith("#resolve")
    after = client.get(tried.headers["location"])
    assert re.search(r"Searched “table” \(\d+ results\), then tried", after.text)
    assert re.search(rf'<option value="{article[1]}" selected>', after.text)

    engineer = _sign_in(client, demo.keys["Farid Haddad"])
    for route in ("details", "cancel", "resolve"):
        post = client.post(f"/ui/calls/{call_id}/{route}", data={"csrf_token": engineer})
        assert post.status_code == 403, route
    csrf = _sign_in(client, demo.keys["Dana Reyes"])
    cancel = {"csrf_token": csrf, "reason": "withdrawn", "note": "fixed itself"}
    done = client.post(f"/ui/calls/{call_id}/cancel", data=cancel, follow_redirects=False)
    assert done.status_code == 303
    assert client.get(f"/calls/{call_id}", headers=key).json()["state"] == "cancelled"


def test_target_text() -> None:
    from app.web.calls import due_text

    now = datetime(2025, 1, 1, 12, 0, 0)
    assert due_text(now + timedelta(minutes=29, seconds=50), now) == ("29 min left", False)
    assert due_text(now + timedelta(hours=7, minutes=5), now) == ("7 h 5 min left", False)
    assert due_text(now - timedelta(minutes=11, seconds=58), now) == ("overdue by 12 min", True)


@pytest.mark.parametrize(("width", "height"), [(1024, 768), (390, 844)])
def test_escalate_and_the_first_fix_are_on_the_first_screen(
    page: Page, live: Live, width: int, height: int
) -> None:
    """Defect 10: Escalate sat below the fold at 1024 px, and at 390 px the page was wider
    than the phone with the first result below the fold."""
    page.set_viewport_size({"width": width, "height": height})
    _start_call(page, live)
    _results_on_screen(page)
    expect(page.get_by_role("link", name=re.compile("Escalate to tier 2"))).to_be_in_viewport()
    first = page.locator("ol.results > li").first
    expect(first).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
