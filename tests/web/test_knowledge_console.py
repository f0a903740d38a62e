"""The engineer's knowledge screens, in a real browser against the real app."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import Live, sign_in

POPPING = "Popping sound during scan"


def _open_article(page: Page, live: Live, text: str) -> str:
    """Find an article through the list's filter and open it; returns its id."""
    page.goto(f"{live.url}/ui/articles")
    page.fill("#q", text)
    page.click("button:has-text('Filter')")
    page.locator("table a", has_text=text).first.click()
    page.wait_for_url(re.compile(r".*/ui/articles/\d+$"))
    return page.url.rsplit("/", 1)[1]


def test_resolve_edit_conflict_when_someone_saved_meanwhile(
    page: Page, browser: Browser, live: Live
) -> None:
    sign_in(page, live, "Erik Lindqvist")
    article_id = _open_article(page, live, POPPING)
    page.click("a:has-text('Edit')")
    page.wait_for_url(f"**/ui/articles/{article_id}/edit")
    original_title = page.input_value("#title")

    # Priya saves a new title in her own browser while Erik's form is still open
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        priya = other.new_page()
        sign_in(priya, live, "Priya Nair")
        priya.goto(f"{live.url}/ui/articles/{article_id}/edit")
        priya.fill("#title", "Popping or banging during the scan, streaks in images (tube arcing)")
        priya.get_by_test_id("save").click()
        priya.wait_for_url(re.compile(rf".*/ui/articles/{article_id}\?done=saved"))
    finally:
        other.close()

    # Erik's edit was based on the old version: it is refused, not saved over Priya's
    page.fill("#escalate_when", "Popping continues after the tube warm-up has been repeated.")
    with page.expect_response(f"**/ui/articles/{article_id}/edit") as answer:
        page.get_by_test_id("save").click()
    assert answer.value.status == 409
    expect(page.locator("h1")).to_contain_text("Edit conflict")
    expect(page.get_by_test_id("conflict")).to_contain_text("by Priya Nair")
    expect(page.get_by_test_id("conflict")).to_contain_text("has not been saved")
    both = page.get_by_test_id("both-versions")
    title_diff = both.locator("table.diff[data-field=title]")
    expect(title_diff.locator("td.del")).to_contain_text("banging")  # theirs
    expect(title_diff.locator("td.add")).to_contain_text(original_title)  # his, as it was
    mine = both.locator("table.diff[data-field=escalate_when] td.add", has_text="repeated")
    expect(mine).to_have_count(1)

    # the form is re-based on Priya's version with Erik's change kept: he saves it
    expect(page.locator("input[name=version]")).to_have_value("2")
    expect(page.locator("#title")).to_have_value(re.compile("banging"))
    expect(page.get_by_test_id("note-title")).to_contain_text("only they changed")
    expect(page.locator("#escalate_when")).to_have_value(re.compile("warm-up has been repeated"))
    page.get_by_test_id("save").click()
    page.wait_for_url(re.compile(rf".*/ui/articles/{article_id}\?done=saved"))
    expect(page.locator("h1")).to_contain_text("banging")
    expect(page.get_by_test_id("preview")).to_contain_text("warm-up has been repeated")

    page.click("a:has-text('Version history')")
    history = page.get_by_test_id("history")
    expect(history.locator("tr[data-version='3']")).to_contain_text("Erik Lindqvist")
    expect(history.locator("tr[data-version='2']")).to_contain_text("Priya Nair")
    expect(page.get_by_test_id("difference")).to_contain_text("warm-up has been repeated")


def test_publish_new_article_with_reordered_and_tier2_steps(page: Page, live: Live) -> None:
    sign_in(page, live, "Priya Nair")
    page.goto(f"{live.url}/ui/articles")
    page.click("a:has-text('New article')")
    page.fill("#title", "Ultrasound probe connector sparks when plugged in")
    page.fill("#issue", "The probe crackles and gives a small spark when we plug it in.")
    page.select_option("#modality", "US")
    page.fill("#manufacturer", "Helix Imaging")
    page.fill("#models", "Sonaris S7")
    page.fill("#steps-0-text", "Unplug the probe and stop using it.")
    page.fill("#steps-1-text", "Check the connector pins for bent or burnt pins.")
    page.locator("[data-step=add]").click()
    rows = page.locator("[data-steps-editor] ol > li")
    expect(rows).to_have_count(3)
    expect(rows.nth(2).locator("textarea")).to_be_focused()
    page.keyboard.type("Replace the probe port board.")
    rows.nth(2).get_by_label("Tier 2 only").check()
    rows.nth(2).get_by_label("Restriction").fill("opens the system cabinet")
    # checking the pins comes first: move it up, and the names follow the new order
    rows.nth(1).get_by_role("button", name="Move up").click()
    expect(page.locator("#steps-0-text")).to_have_value(re.compile("connector pins"))
    expect(page.locator("#steps-1-text")).to_have_value("Unplug the probe and stop using it.")
    expect(page.locator("#steps-2-tier2")).to_be_checked()
    page.get_by_test_id("save").click()
    page.wait_for_url(re.compile(r".*/ui/articles/\d+\?done=created"))

    expect(page.get_by_test_id("status")).to_have_text("draft")
    steps = page.get_by_test_id("preview").locator("ol.steps > li")
    expect(steps).to_have_count(3)
    expect(steps.nth(0)).to_have_text(re.compile("connector pins"))
    expect(steps.nth(1)).to_have_text("Unplug the probe and stop using it.")
    expect(steps.nth(2)).to_have_class("tier2")
    expect(steps.nth(2)).to_contain_text("⚠ Tier 2 only (opens the system cabinet):")

    page.get_by_test_id("publish").click()
    expect(page.locator(".flash")).to_contain_text("Published")
    expect(page.get_by_test_id("status")).to_have_text("published")
    expect(page.get_by_test_id("preview").locator(".tier2-mark").first).to_contain_text(
        "1 for tier 2 only"
    )
    expect(page.get_by_test_id("preview").locator("li.tier2")).to_contain_text("Tier 2 only")
    # published means a dispatcher's search finds it now
    found = page.request.post(
        f"{live.url}/search",
        headers={"X-API-Key": live.demo.keys["Dana Reyes"]},
        data={"query": "probe sparks when plugged in", "limit": 3},
    )
    assert found.ok
    assert found.json()["results"][0]["title"] == (
        "Ultrasound probe connector sparks when plugged in"
    )


def test_step_error_stays_announced_after_moving_the_step(page: Page, live: Live) -> None:
    sign_in(page, live, "Priya Nair")
    page.goto(f"{live.url}/ui/articles/new")
    page.fill("#title", "Ultrasound probe connector sparks when plugged in")
    page.fill("#issue", "The probe crackles and gives a small spark when we plug it in.")
    page.select_option("#modality", "US")
    page.fill("#steps-0-text", "Unplug the probe and stop using it.")
    page.fill("#steps-1-restriction", "opens the system cabinet")  # a restriction, no step
    with page.expect_response("**/ui/articles") as answer:
        page.get_by_test_id("save").click()
    assert answer.value.status == 422
    rows = page.locator("[data-steps-editor] ol > li")
    expect(page.locator("#steps-1-text")).to_have_attribute(
        "aria-describedby", "steps-1-text-error"
    )

    # moved first, the step keeps its message and the step it swapped with has none
    rows.nth(1).get_by_role("button", name="Move up").click()
    moved = page.locator("#steps-0-text")
    expect(rows.nth(0).locator("textarea")).to_have_id("steps-0-text")
    expect(moved).to_have_attribute("aria-describedby", "steps-0-text-error")
    expect(moved).to_have_accessible_description(re.compile("write the step"))
    expect(rows.nth(0).locator(".field-error")).to_have_id("steps-0-text-error")
    expect(page.locator("#steps-1-text")).to_have_value("Unplug the probe and stop using it.")
    expect(page.locator("#steps-1-text")).not_to_have_attribute("aria-describedby", re.compile("."))
    expect(page.locator("#steps-1-text-error")).to_have_count(0)


def test_compare_two_versions_and_restore_the_old_one(page: Page, live: Live) -> None:
    sign_in(page, live, "Erik Lindqvist")
    article_id = _open_article(page, live, POPPING)
    page.click("a:has-text('Edit')")
    old_cause = page.input_value("#cause")
    page.fill("#cause", "The X-ray tube arcs internally; a cracked HV cable end does the same.")
    page.get_by_test_id("save").click()
    page.wait_for_url(re.compile(r".*\?done=saved"))

    page.click("a:has-text('Version history')")
    difference = page.get_by_test_id("difference")
    expect(difference.locator("h2")).to_have_text("Version 1 → version 2")
    cause = difference.locator("table.diff[data-field=cause]")
    expect(cause.locator("td.del").first).to_contain_text("−")
    expect(cause.locator("td.add ins").first).to_be_visible()
    expect(cause.locator("td.add", has_text="cracked HV cable end")).to_have_count(1)
    expect(difference.locator("table.diff")).to_have_count(1)

    # pick the versions by hand: 2 -> 1 shows the same change the other way round
    page.check("#a-2")
    page.check("#b-1")
    page.click("button:has-text('Compare the chosen versions')")
    expect(difference.locator("h2")).to_have_text("Version 2 → version 1")
    back = difference.locator("table.diff[data-field=cause] td.del", has_text="cracked HV")
    expect(back).to_have_count(1)

    page.locator("tr[data-version='1']").get_by_role("button", name="Restore version 1").click()
    page.wait_for_url(re.compile(r".*done=restored"))
    expect(page.locator(".flash")).to_contain_text("Restored")
    newest = page.get_by_test_id("history").locator("tbody tr").first
    expect(newest).to_contain_text("restored version 1")
    expect(newest).to_contain_text("(current)")
    expect(newest.locator("td").first).to_contain_text("3")
    page.goto(f"{live.url}/ui/articles/{article_id}/edit")
    expect(page.locator("#cause")).to_have_value(old_cause)


def test_list_low_score_call_search_as_a_gap(page: Page, live: Live) -> None:
    query = "the coffee machine in the break room is leaking"
    sign_in(page, live, "Dana Reyes")
    page.goto(f"{live.url}/ui/calls/new")
    page.fill("#asset_q", "40811")
    chosen = page.get_by_role("listbox").get_by_role("option", selected=True)
    expect(chosen).to_contain_text("NV-CT-40811")
    page.fill("#caller_name", "Sam Patel")
    page.fill("#callback_number", "+44 20 7946 9999")
    page.fill("#symptom", "Water on the floor")
    page.click("button:has-text('Open the call')")
    page.wait_for_url(re.compile(r".*/ui/calls/\d+\?done=opened"))
    call_id = page.url.split("/ui/calls/")[1].split("?")[0]
    page.fill("#q", query)
    page.locator("#q").press("Enter")
    expect(page.locator("#timeline")).to_contain_text(query)
    page.click("text=Sign out")

    sign_in(page, live, "Erik Lindqvist")
    page.click("header.top nav >> text=Gaps")
    row = page.get_by_test_id("gaps").locator("tbody tr", has_text=query)
    expect(row).to_have_count(1)
    # the default calibration: a coffee machine is no good match for the seed library
    expect(row).to_contain_text(re.compile(r"no good match \(best confidence \d+%\)"))
    expect(row.get_by_role("link", name=f"Call #{call_id}")).to_have_attribute(
        "href", f"/ui/calls/{call_id}"
    )
    row.get_by_role("link", name=re.compile("New article")).click()
    expect(page.locator("h1")).to_have_text("New article")
    expect(page.locator("#title")).to_have_value("The coffee machine in the break room is leaking")
    expect(page.locator("#issue")).to_have_value(query)
    expect(page.locator("#modality")).to_have_value("CT")


def test_use_the_editor_at_tablet_width(page: Page, live: Live) -> None:
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, live, "Erik Lindqvist")
    article_id = _open_article(page, live, POPPING)
    page.goto(f"{live.url}/ui/articles/{article_id}/edit")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 768, f"the editor scrolls sideways at tablet width ({width}px)"
    # keyboard only: the first step's controls are reachable and labelled
    page.focus("#steps-0-text")
    page.keyboard.press("Tab")
    expect(page.locator("#steps-0-tier2")).to_be_focused()
    expect(page.get_by_label("Tier 2 only").first).to_be_visible()
