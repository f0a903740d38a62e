"""The console's chrome (issue 20): the notifications menu, the scanner combobox, the skip
link, the new-call form's error summary, and no sideways scrolling on a phone."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from app.db import transaction
from scripts.load_demo import Demo, load_demo
from tests.web.conftest import Live, sign_in

DISPATCHER, TIER2, FIELD = "Dana Reyes", "Erik Lindqvist", "Farid Haddad"
PHONE = {"width": 390, "height": 844}


def _api(live: Live, person: str) -> httpx.Client:
    return httpx.Client(
        base_url=live.url, headers={"X-API-Key": live.demo.keys[person]}, timeout=30
    )


def _open_call(live: Live, serial: str, symptom: str = "Table will not move") -> int:
    """A call opened through the API (its scanner's primary engineer is notified)."""
    body = {
        "asset_id": live.demo.assets[serial],
        "caller_name": "Sam Patel",
        "callback_number": "+44 20 7946 9999",
        "urgency": "degraded",
        "symptom": symptom,
    }
    with _api(live, DISPATCHER) as dana:
        opened = dana.post("/calls", json=body)
    assert opened.status_code == 201, opened.text
    return int(opened.json()["id"])


def _escalate(live: Live, serial: str, symptom: str) -> tuple[int, int]:
    """A call searched, one fix tried and escalated: (call, escalation)."""
    call_id = _open_call(live, serial, symptom)
    with _api(live, DISPATCHER) as dana:
        found = dana.post(f"/calls/{call_id}/search", json={"query": symptom}).json()
        tried = {"article_id": found["results"][0]["id"], "outcome": "no_change"}
        assert dana.post(f"/calls/{call_id}/attempts", json=tried).is_success
        sent = dana.post(f"/calls/{call_id}/escalate", json={"reason": "Still failing"})
    assert sent.status_code == 201, sent.text
    return call_id, int(sent.json()["id"])


# -- notifications menu ----------------------------------------------------------------


def test_unread_count_updates_without_reload_and_the_menu_links_to_the_call(
    page: Page, live: Live
) -> None:
    page.clock.install()
    sign_in(page, live, FIELD)
    page.goto(f"{live.url}/ui/notifications")
    count = page.get_by_test_id("unread-count")
    expect(count).to_have_text("0")
    menu = page.get_by_role("button", name="Notifications (0) unread")
    expect(menu).to_have_attribute("aria-expanded", "false")

    # a call opened on Farid's scanner, in the background: the poll brings the count
    call_id = _open_call(live, "NV-CT-40811")
    with page.expect_response("**/ui/notifications/count"):
        page.clock.fast_forward(20_000)
    expect(count).to_have_text("1")
    expect(page.get_by_role("status").filter(has_text="New notification")).to_have_count(1)

    # the menu lists it, linked to its call; "mark read" posts in place
    menu = page.get_by_role("button", name="Notifications (1) unread")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    panel = page.locator("#notif-panel")
    item = panel.get_by_test_id("notification")
    expect(item).to_have_count(1)
    expect(item.get_by_role("link", name=re.compile(f"Call {call_id} opened"))).to_have_attribute(
        "href", f"/ui/calls/{call_id}"
    )
    item.get_by_role("button", name=re.compile("Mark read")).click()
    expect(count).to_have_text("0")
    expect(panel.get_by_role("button", name=re.compile("Mark read"))).to_have_count(0)
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.locator("button.notif-toggle")).to_be_focused()

    # the link goes to the call
    _open_call(live, "NV-MR-15220", "Helium level warning")
    with page.expect_response("**/ui/notifications/count"):
        page.clock.fast_forward(20_000)
    expect(count).to_have_text("1")
    page.goto(f"{live.url}/ui/notifications")
    page.get_by_role("link", name=re.compile("Helium level warning")).click()
    page.wait_for_url(re.compile(r".*/ui/calls/\d+$"))


def test_polling_stops_while_the_tab_is_hidden(page: Page, live: Live) -> None:
    page.clock.install()
    sign_in(page, live, FIELD)
    page.goto(f"{live.url}/ui/notifications")
    polled: list[str] = []
    page.on("request", lambda r: polled.append(r.url) if "/notifications/count" in r.url else None)
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    page.clock.fast_forward(120_000)
    assert polled == []
    _open_call(live, "NV-CT-40811")
    with page.expect_response("**/ui/notifications/count"):  # back: polled at once
        page.evaluate(
            "Object.defineProperty(document, 'hidden', {value: false, configurable: true});"
            "document.dispatchEvent(new Event('visibilitychange'))"
        )
    expect(page.get_by_test_id("unread-count")).to_have_text("1")


# -- scanner combobox (defect 6) --------------------------------------------------------


def test_scanner_combobox_with_two_matches_by_keyboard(page: Page, live: Live) -> None:
    sign_in(page, live, DISPATCHER)
    page.goto(f"{live.url}/ui/calls/new")
    box = page.get_by_role("combobox", name=re.compile("Scanner"))
    expect(box).to_be_focused()
    expect(box).to_have_attribute("aria-expanded", "false")
    box.press_sequentially("NV-", delay=30)

    # two matches: the first is preselected, the list is open and tied to the box
    options = page.get_by_role("listbox").get_by_role("option")
    expect(options).to_have_count(2)
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(box).to_have_attribute("aria-controls", "asset-listbox")
    first, second = options.nth(0), options.nth(1)
    expect(first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", first.get_attribute("id") or "")
    assert "NV-CT-40811" in first.inner_text()

    # arrows choose, Enter picks (and does not submit), Tab moves on
    page.keyboard.press("ArrowDown")
    expect(second).to_have_attribute("aria-selected", "true")
    expect(first).to_have_attribute("aria-selected", "false")
    expect(box).to_have_attribute("aria-activedescendant", second.get_attribute("id") or "")
    page.keyboard.press("ArrowUp")
    expect(first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#asset-chosen")).to_contain_text("NV-MR-15220")
    assert page.url.endswith("/ui/calls/new")
    page.keyboard.press("Tab")
    expect(page.locator("#caller_name")).to_be_focused()

    page.keyboard.type("Sam Patel")
    page.fill("#symptom", "Helium level warning on the console")
    page.click("button:has-text('Open the call')")
    page.wait_for_url(re.compile(r".*/ui/calls/\d+\?done=opened"))
    expect(page.locator(".status-bar")).to_contain_text("NV-MR-15220")


def test_tab_with_the_list_open_keeps_the_first_match(page: Page, live: Live) -> None:
    sign_in(page, live, DISPATCHER)
    page.goto(f"{live.url}/ui/calls/new")
    page.locator("#asset_q").press_sequentially("HX-", delay=30)
    options = page.get_by_role("listbox").get_by_role("option")
    expect(options).to_have_count(2)
    first, second = (options.nth(i).get_attribute("data-asset") for i in (0, 1))
    page.keyboard.press("Tab")
    expect(page.locator("#caller_name")).to_be_focused()
    expect(page.locator("#asset_q")).to_have_attribute("aria-expanded", "false")
    chosen = page.locator("input[name=asset_id]")
    expect(chosen).to_have_value(first or "")
    # a click picks too
    page.locator("#asset_q").focus()
    page.keyboard.press("ArrowDown")
    options.nth(1).click()
    expect(chosen).to_have_value(second or "")
    expect(page.locator("#asset_q")).to_be_focused()


def test_new_call_errors_are_summarised_and_focus_goes_to_the_first(page: Page, live: Live) -> None:
    sign_in(page, live, DISPATCHER)
    page.goto(f"{live.url}/ui/calls/new")
    page.fill("#symptom", "Image has streaks")
    page.click("button:has-text('Open the call')")
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_contain_text("Choose the scanner")
    expect(summary).to_contain_text("Enter the caller's name")
    expect(page.locator("#asset_q")).to_be_focused()
    expect(page.locator("#symptom")).to_have_value("Image has streaks")
    # each entry leads to its field
    summary.get_by_role("link", name=re.compile("Caller name")).click()
    expect(page.locator("#caller_name")).to_be_focused()

    page.locator("#asset_q").fill("40811")
    expect(page.get_by_role("listbox").get_by_role("option")).to_have_count(1)
    page.click("button:has-text('Open the call')")
    expect(page.get_by_test_id("error-summary")).not_to_contain_text("scanner")
    expect(page.locator("#caller_name")).to_be_focused()
    expect(page.locator("#caller_name")).to_have_attribute("aria-invalid", "true")


# -- skip link, phone widths, touch screens ---------------------------------------------


def test_skip_link_is_visible_when_focused(page: Page, live: Live) -> None:
    sign_in(page, live, DISPATCHER)
    page.goto(f"{live.url}/ui/calls")
    skip = page.get_by_role("link", name="Skip to content")
    hidden = skip.bounding_box()
    assert hidden, "the skip link is in the page"
    assert hidden["y"] + hidden["height"] <= 0  # above the window until focused
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box, "the skip link has no box"
    assert box["width"] > 40, box
    assert box["height"] > 16, box
    assert box["y"] >= 0, box
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A phone: 390 px wide, touch, no hover."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def _overflow(page: Page, url: str) -> int:
    """How wide the page is, once loaded (a page that failed to load does not count)."""
    response = page.goto(url)
    assert response is not None, url
    assert response.ok, (url, response.status)
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_no_page_scrolls_sideways_at_390_px(phone: Page, live: Live) -> None:
    open_call = _open_call(live, "NV-CT-40811", "CT makes a popping sound and streaks")
    accepted, escalation = _escalate(live, "NV-MR-15220", "The table will not move")
    _, waiting = _escalate(live, "BM-DR-77310", "Detector not ready")
    with _api(live, TIER2) as erik:
        assert erik.post(f"/escalations/{escalation}/accept").is_success
        article = erik.get("/articles", params={"limit": 1}).json()["items"][0]["id"]
    pages = {
        DISPATCHER: [
            "/ui/calls",
            "/ui/calls/new",
            f"/ui/calls/{open_call}",
            f"/ui/calls/{open_call}/escalate",
            "/ui/notifications",
            "/ui/work",
        ],
        TIER2: [
            "/ui/escalations",
            f"/ui/escalations/{waiting}",
            f"/ui/calls/{accepted}",
            "/ui/articles",
            f"/ui/articles/{article}",
            f"/ui/articles/{article}/edit",
            f"/ui/articles/{article}/versions",
            "/ui/gaps",
            "/ui/notifications",
        ],
        FIELD: ["/ui/work", "/ui/escalations", "/ui/notifications"],
    }
    wide = {"/ui/login": _overflow(phone, f"{live.url}/ui/login")}
    for person, paths in pages.items():
        phone.context.clear_cookies()
        sign_in(phone, live, person)
        for path in paths:
            wide[f"{person} {path}"] = _overflow(phone, live.url + path)
    too_wide = {k: v for k, v in wide.items() if v > PHONE["width"]}
    assert not too_wide, f"pages wider than 390 px: {too_wide}"


def test_key_legend_is_hidden_on_touch_screens(phone: Page, page: Page, live: Live) -> None:
    call_id = _open_call(live, "NV-CT-40811")
    sign_in(page, live, DISPATCHER)
    page.goto(f"{live.url}/ui/calls/{call_id}")
    expect(page.locator(".shortcuts")).to_be_visible()  # a mouse and keyboard
    sign_in(phone, live, DISPATCHER)
    phone.goto(f"{live.url}/ui/calls/{call_id}")
    expect(phone.locator("#q")).to_be_visible()
    expect(phone.locator(".shortcuts")).to_be_hidden()


# -- without JavaScript: plain forms -----------------------------------------------------


def _console(client: TestClient, demo: Demo, person: str) -> str:
    """Sign `client` in to the console as `person`; returns the form token."""
    client.cookies.clear()
    login = client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token
    client.post("/ui/login", data={"api_key": demo.keys[person], "csrf_token": token.group(1)})
    page = client.get("/ui/notifications")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    return csrf.group(1)


@pytest.fixture
def people(seeded: TestClient) -> tuple[TestClient, Demo]:
    """The seeded app with the demo people, and no API key on the client."""
    with transaction(seeded.app.state.sessions) as session:  # type: ignore[attr-defined]
        demo = load_demo(session=session)
    seeded.headers.pop("X-API-Key", None)
    return seeded, demo


def _open_by_form(client: TestClient, csrf: str, asset_id: int) -> int:
    response = client.post(
        "/ui/calls",
        data={
            "csrf_token": csrf,
            "asset_id": str(asset_id),
            "caller_name": "Sam Patel",
            "urgency": "degraded",
            "symptom": "Table will not move",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/ui/calls/")[1].split("?")[0])


def test_notifications_without_script(people: tuple[TestClient, Demo]) -> None:
    client, demo = people
    call_id = _open_by_form(client, _console(client, demo, DISPATCHER), demo.assets["NV-CT-40811"])
    csrf = _console(client, demo, FIELD)
    listed = client.get("/ui/notifications")
    assert listed.status_code == 200
    assert "<h1" in listed.text
    assert "1 unread" in listed.text
    assert "data-unread-count>1<" in listed.text  # the header's count, without script
    assert f'<a href="/ui/calls/{call_id}">Call {call_id} opened' in listed.text
    assert client.get("/ui/notifications/count").json() == {"unread": 1}
    found = re.search(r'action="/ui/notifications/(\d+)/read"', listed.text)
    assert found
    one = f"/ui/notifications/{found.group(1)}/read"

    # forms need the token; someone else's notification is not found
    assert client.post(one, data={"csrf_token": "forged"}).status_code == 403
    marked = client.post(one, data={"csrf_token": csrf}, follow_redirects=False)
    assert marked.status_code == 303
    assert marked.headers["location"] == "/ui/notifications?done=read"
    assert client.get("/ui/notifications/count").json() == {"unread": 0}
    _open_by_form(client, _console(client, demo, DISPATCHER), demo.assets["NV-MR-15220"])
    csrf = _console(client, demo, TIER2)
    assert client.post(one, data={"csrf_token": csrf}).status_code == 404

    csrf = _console(client, demo, FIELD)
    assert client.get("/ui/notifications/count").json() == {"unread": 1}
    done = client.post("/ui/notifications/read-all", data={"csrf_token": csrf})
    assert done.status_code == 200
    assert "All notifications marked read." in done.text
    assert client.get("/ui/notifications/count").json() == {"unread": 0}


def test_navigation_offers_my_work_to_people(people: tuple[TestClient, Demo]) -> None:
    client, demo = people
    _console(client, demo, FIELD)
    page = client.get("/ui/notifications").text
    assert '<a href="/ui/work">My work</a>' in page
    assert 'aria-current="page">Notifications' in page
    client.cookies.clear()
    assert client.get("/ui/notifications", follow_redirects=False).status_code == 303


def test_scanner_picker_fragment_preselects_the_first_match(
    people: tuple[TestClient, Demo],
) -> None:
    client, demo = people
    _console(client, demo, DISPATCHER)
    mr = demo.assets["NV-MR-15220"]
    first = client.get("/ui/assets/pick", params={"asset_q": "NV-"}).text
    assert first.count('role="option"') == 2
    selected = re.findall(r'data-asset="(\d+)" aria-selected="true"', first)
    assert selected == [str(demo.assets["NV-CT-40811"])]
    kept = client.get("/ui/assets/pick", params={"asset_q": "NV-", "asset_id": mr}).text
    assert re.findall(r'data-asset="(\d+)" aria-selected="true"', kept) == [str(mr)]
    assert f'name="asset_id" value="{mr}"' in kept


def test_new_call_form_errors_without_script(people: tuple[TestClient, Demo]) -> None:
    client, demo = people
    csrf = _console(client, demo, DISPATCHER)
    response = client.post(
        "/ui/calls", data={"csrf_token": csrf, "asset_q": "NV-", "symptom": "Streaks"}
    )
    assert response.status_code == 422
    text = response.text
    assert 'data-testid="error-summary"' in text
    assert '<a href="#asset_q">Scanner: Choose the scanner' in text
    assert '<a href="#caller_name">Caller name: Enter the caller&#39;s name' in text
    assert "String should have" not in text  # the validator's words stay out
    # the matches come back as radios; the first field at fault has the focus
    assert text.count('type="radio" name="asset_id"') == 2
    assert re.search(r'id="asset_q"[^>]*autofocus', text)
    assert not re.search(r'id="caller_name"[^>]*autofocus', text)
