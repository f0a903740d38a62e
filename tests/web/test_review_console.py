"""The review gate in a real browser: a contributor's change waits, a publisher reviews it
from the queue with the keyboard."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from app.auth import service as auth_service
from app.auth.schemas import PersonUpdate
from app.db import transaction
from tests.web.axe_fixture import assert_accessible, axe_source
from tests.web.conftest import Live, sign_in

POPPING = "Popping sound during scan"
NEW_TITLE = "Popping or banging during the scan, streaks in images (tube arcing)"


def _licence(live: Live, name: str, licence: str) -> None:
    """The people admin sets a demo person's KCS licence."""
    with transaction(live.app.state.sessions) as session:  # type: ignore[attr-defined]
        auth_service.update_person(
            session=session,
            person_id=live.demo.people[name],
            data=PersonUpdate.model_validate({"kcs_licence": licence}),
        )


def _accessible(page: Page, name: str) -> None:
    """No serious axe finding at desktop and phone widths (as test_accessibility.py)."""
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert_accessible(page, axe_source(), f"{name} at {width}x{height}")
    page.set_viewport_size({"width": 1280, "height": 800})


def _search_titles(page: Page, live: Live, query: str) -> list[str]:
    found = page.request.post(
        f"{live.url}/search",
        headers={"X-API-Key": live.demo.keys["Dana Reyes"]},
        data={"query": query, "limit": 3},
    )
    assert found.ok
    return [hit["title"] for hit in found.json()["results"]]


def _propose(page: Page, live: Live, title: str) -> str:
    """As the signed-in contributor, edit the published popping article's title; returns
    its id."""
    page.goto(f"{live.url}/ui/articles?q=popping")
    page.locator("table a", has_text=POPPING).first.click()
    page.wait_for_url(re.compile(r".*/ui/articles/\d+$"))
    article_id = page.url.rsplit("/", 1)[1]
    page.click("a:has-text('Edit')")
    expect(page.get_by_test_id("save")).to_have_text("Send for review")
    page.fill("#title", title)
    page.get_by_test_id("save").click()
    page.wait_for_url(re.compile(rf".*/ui/articles/{article_id}\?done=pending"))
    return article_id


def test_a_contributors_change_waits_until_a_publisher_approves_it(
    page: Page, browser: Browser, live: Live
) -> None:
    _licence(live, "Erik Lindqvist", "contributor")
    sign_in(page, live, "Erik Lindqvist")
    article_id = _propose(page, live, NEW_TITLE)
    expect(page.locator(".flash")).to_contain_text("Your change waits for review")
    expect(page.locator("h1")).to_contain_text(POPPING)  # the published version, still
    expect(page.get_by_test_id("revisions")).to_contain_text("pending")
    assert NEW_TITLE not in _search_titles(page, live, "popping banging streaks tube arcing")
    # a contributor sees the queue but cannot decide
    page.get_by_role("link", name="Reviews").click()
    page.locator("table[data-testid=reviews] a").first.click()
    expect(page.get_by_text("Only a KCS publisher approves or rejects")).to_be_visible()
    expect(page.get_by_test_id("approve")).to_have_count(0)

    other = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        priya = other.new_page()
        sign_in(priya, live, "Priya Nair")
        priya.get_by_role("link", name="Reviews").click()
        expect(priya.get_by_test_id("review-count")).to_have_text("1 change waiting for review")
        row = priya.locator("table[data-testid=reviews] tr[data-revision]")
        expect(row).to_contain_text("Erik Lindqvist")
        expect(row).to_contain_text("Title")
        _accessible(priya, "review queue")
        # keyboard only: the change's link, the note, then the approve button
        row.locator("a").focus()
        priya.keyboard.press("Enter")
        priya.wait_for_url(re.compile(r".*/ui/reviews/\d+$"))
        title = priya.locator("table.diff[data-field=title]")
        expect(title.locator("td.del del").first).to_be_visible()
        expect(title.locator("td.add ins", has_text="banging")).to_have_count(1)
        expect(priya.locator("table.diff")).to_have_count(1)
        _accessible(priya, "review")
        priya.locator("#note").focus()
        priya.keyboard.type("Clearer title, thanks.")
        priya.keyboard.press("Tab")
        expect(priya.get_by_test_id("approve")).to_be_focused()
        priya.keyboard.press("Enter")
        priya.wait_for_url(re.compile(r".*/ui/reviews\?done=approved"))
        expect(priya.locator(".flash")).to_contain_text("Approved")
        expect(priya.get_by_test_id("review-count")).to_have_text("0 changes waiting for review")
    finally:
        other.close()

    assert _search_titles(page, live, "popping banging streaks tube arcing")[0] == NEW_TITLE
    page.goto(f"{live.url}/ui/articles/{article_id}")
    expect(page.locator("h1")).to_contain_text(NEW_TITLE)
    expect(page.get_by_test_id("revisions")).to_contain_text("Clearer title, thanks.")


def test_rejecting_asks_for_a_note_and_the_author_reads_it(
    page: Page, browser: Browser, live: Live
) -> None:
    _licence(live, "Erik Lindqvist", "contributor")
    sign_in(page, live, "Erik Lindqvist")
    article_id = _propose(page, live, "Popping <b>sound</b> & streaks")

    other = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        priya = other.new_page()
        sign_in(priya, live, "Priya Nair")
        priya.goto(f"{live.url}/ui/reviews")
        priya.locator("table[data-testid=reviews] a").first.click()
        added = priya.locator("table.diff[data-field=title] td.add")
        expect(added).to_contain_text("<b>sound</b> &")  # shown as typed, never as markup
        expect(added.locator("b")).to_have_count(0)
        with priya.expect_response(re.compile(r".*/reject$")) as answer:
            priya.get_by_test_id("reject").click()
        assert answer.value.status == 422
        expect(priya.locator("#note")).to_be_focused()
        expect(priya.locator("#note")).to_have_accessible_description(re.compile("write why"))
        _accessible(priya, "review, rejected without a note")
        priya.keyboard.type("Markup does not belong in a title.")
        priya.get_by_test_id("reject").click()
        priya.wait_for_url(re.compile(r".*/ui/reviews\?done=rejected"))
    finally:
        other.close()

    page.goto(f"{live.url}/ui/articles/{article_id}")
    expect(page.locator("h1")).to_contain_text(POPPING)
    revisions = page.get_by_test_id("revisions")
    expect(revisions).to_contain_text("rejected by Priya Nair")
    expect(revisions).to_contain_text("Markup does not belong in a title.")
