"""The dispatcher's call screen and the tier-2 queue, in a real browser."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.conftest import Live, sign_in

SYMPTOM = "CT makes a popping sound and the images have streaks"


def _start_call(page: Page, live: Live) -> str:
    page.goto(f"{live.url}/ui/calls")
    page.keyboard.press("n")
    page.wait_for_url("**/ui/calls/new")
    page.fill("#asset_q", "40811")
    chosen = page.get_by_role("listbox").get_by_role("option", selected=True)
    expect(chosen).to_contain_text("NV-CT-40811")
    page.fill("#caller_name", "Sam Patel")
    page.fill("#callback_number", "+44 20 7946 9999")
    page.select_option("#urgency", "system_down")
    page.fill("#symptom", SYMPTOM)
    page.click("button:has-text('Open the call')")
    page.wait_for_url(re.compile(r".*/ui/calls/\d+\?done=opened"))
    return page.url.split("/ui/calls/")[1].split("?")[0]


def test_dispatcher_works_a_call_from_sign_in_to_escalation(page: Page, live: Live) -> None:
    sign_in(page, live, "Dana Reyes")
    call_id = _start_call(page, live)

    # who owns the call is on screen from the start
    expect(page.get_by_test_id("owner")).to_have_text("Dana Reyes")
    expect(page.get_by_test_id("follow-up")).to_have_text("Farid Haddad")
    expect(page.get_by_test_id("primary")).to_have_text("Farid Haddad")
    expect(page.get_by_test_id("state")).to_have_text("open")

    # results appear as the dispatcher types, ranked, with steps and tier-2 marks
    page.fill("#q", "")
    page.locator("#q").press_sequentially("popping noise and streaks in the images", delay=20)
    # an attribute selector, not a JavaScript predicate: the console's policy forbids eval
    page.wait_for_selector("body[data-last-result-ms]", state="attached")
    first = page.locator("ol.results > li").first
    expect(first.locator(".hit-title")).to_contain_text("Popping sound")
    expect(first.locator(".why")).to_contain_text("semantic similarity")
    print(f"time to first result: {page.evaluate('document.body.dataset.lastResultMs')} ms")

    # keyboard only: into the results, open the steps, record "no change"
    page.keyboard.press("ArrowDown")
    expect(first).to_be_focused()
    page.keyboard.press("Enter")
    expect(first.locator("details")).to_have_attribute("open", "")
    expect(first.locator("li.tier2").first).to_contain_text("Tier 2 only")
    failed_title = first.locator(".hit-title").inner_text().split(". ", 1)[1]
    page.keyboard.press("2")

    # the failed article is marked and drops below the untried ones
    tried = page.locator("ol.results > li.demoted")
    expect(tried).to_have_count(1)
    expect(tried.locator("[data-testid=tried]")).to_have_text("tried: no change")
    expect(page.locator("ol.results > li").last).to_have_class(re.compile("demoted"))
    expect(page.locator("#timeline")).to_contain_text("no change")

    # escalate: the check passes, the brief shows everything tier 2 needs
    page.keyboard.press("Escape")  # focus back to the search box...
    page.keyboard.press("Escape")  # ...and out again, where single keys are shortcuts
    page.keyboard.press("e")
    page.wait_for_url(f"**/ui/calls/{call_id}/escalate")
    page.fill("#reason", "Arcing persists after warm-up; tube needs a field visit")
    page.click("button:has-text('Update preview')")
    expect(page.get_by_test_id("ready")).to_be_visible()
    brief = page.get_by_test_id("brief")
    for expected in (
        "Sam Patel",
        "+44 20 7946 9999",
        "NV-CT-40811",
        "St Aldhelm General Hospital",
        SYMPTOM,
        failed_title,
        "no change",
        "Arcing persists after warm-up",
    ):
        expect(brief).to_contain_text(expected)
    page.get_by_test_id("send").click()
    page.wait_for_url(re.compile(rf".*/ui/calls/{call_id}\?done=escalated"))
    expect(page.get_by_test_id("state")).to_have_text("escalated")


def test_escalation_lists_what_is_missing_next_to_the_form(page: Page, live: Live) -> None:
    sign_in(page, live, "Dana Reyes")
    call_id = _start_call(page, live)
    page.goto(f"{live.url}/ui/calls/{call_id}/escalate")
    missing = page.get_by_test_id("missing")
    expect(missing).to_contain_text("run at least one search")
    expect(missing).to_contain_text("say why tier 2 is needed")
    page.get_by_test_id("send").click()
    expect(page.locator("#reason-error")).to_be_visible()
    expect(page.locator("#reason")).to_have_attribute("aria-invalid", "true")


def test_tier2_accepts_and_resolves_an_escalation(page: Page, live: Live) -> None:
    sign_in(page, live, "Dana Reyes")
    call_id = _start_call(page, live)
    page.locator("#q").press("Enter")  # records the search
    expect(page.locator("#timeline")).to_contain_text("Searched")
    page.goto(f"{live.url}/ui/calls/{call_id}/escalate")
    page.fill("#reason", "Needs remote diagnostics")
    page.get_by_test_id("send").click()
    # nothing was tried: the form says so and keeps what was typed
    expect(page.locator("#nothing_applicable-error")).to_be_visible()
    expect(page.locator("#reason")).to_have_value("Needs remote diagnostics")
    page.fill("#nothing_applicable", "The suggested fixes need the covers off")
    page.get_by_test_id("send").click()
    page.wait_for_url(re.compile(r".*done=escalated"))
    page.click("text=Sign out")

    sign_in(page, live, "Erik Lindqvist")
    page.wait_for_url("**/ui/escalations")
    row = page.locator("table tr", has_text="Needs remote").or_(
        page.locator("table tr", has_text="popping")
    )
    expect(row.first).to_contain_text("system down")
    expect(row.first).to_contain_text("min")
    row.first.locator("a").click()
    expect(page.get_by_test_id("brief")).to_contain_text("Sam Patel")
    expect(page.locator("ol.timeline")).to_contain_text("Escalated")
    page.get_by_test_id("accept").click()
    expect(page.locator(".flash")).to_contain_text("you own this call")
    expect(page.get_by_test_id("owner")).to_have_text("Erik Lindqvist")
    page.fill("#resolve-notes", "Replaced HV cable remotely diagnosed; field visit booked")
    page.get_by_test_id("resolve").click()
    page.wait_for_url(re.compile(rf".*/ui/calls/{call_id}\?done=resolved"))
    expect(page.get_by_test_id("state")).to_have_text("resolved")


def test_dispatcher_is_refused_the_knowledge_screens(page: Page, live: Live) -> None:
    sign_in(page, live, "Dana Reyes")
    expect(page.locator("header.top nav")).not_to_contain_text("Knowledge")
    response = page.goto(f"{live.url}/ui/articles")
    assert response is not None
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator(".flash.error")).to_contain_text("articles:write")


def test_field_engineer_cannot_accept_from_the_queue(page: Page, live: Live) -> None:
    sign_in(page, live, "Farid Haddad")
    response = page.goto(f"{live.url}/ui/calls/new")
    assert response is not None
    assert response.status == 403
    page.goto(f"{live.url}/ui/escalations")
    expect(page.locator("h1")).to_contain_text("Escalation queue")
