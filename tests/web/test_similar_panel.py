"""The call screen's "Similar past calls" panel in Chromium: a resolved call like the new
one is listed with what fixed it, and reached from the keyboard."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import Live, sign_in

PAST = "Loud popping sound from the gantry during the scan, then streaks across the images"
NEW = "CT makes a popping noise mid scan and the pictures have streaks"


def _resolved_call(page: Page, live: Live, symptom: str, how: dict[str, object]) -> int:
    """A call on the demo CT scanner, opened and resolved over the API."""
    key = {"X-API-Key": live.demo.keys["Dana Reyes"]}
    made = page.request.post(
        f"{live.url}/calls",
        headers=key,
        data={
            "asset_id": live.demo.assets["NV-CT-40811"],
            "caller_name": "Sam Patel",
            "callback_number": "+44 20 7946 9999",
            "urgency": "degraded",
            "symptom": symptom,
        },
    )
    assert made.ok, made.text()
    call_id = int(made.json()["id"])
    if how:
        done = page.request.post(f"{live.url}/calls/{call_id}/resolve", headers=key, data=how)
        assert done.ok, done.text()
    return call_id


def test_the_panel_lists_a_similar_resolved_call_with_its_fix(page: Page, live: Live) -> None:
    key = {"X-API-Key": live.demo.keys["Dana Reyes"]}
    article = page.request.get(f"{live.url}/articles/ct-tube-arcing-popping", headers=key).json()
    past = _resolved_call(page, live, PAST, {"article_id": article["id"]})
    new = _resolved_call(page, live, NEW, {})
    sign_in(page, live, "Dana Reyes")
    page.goto(f"{live.url}/ui/calls/{new}")

    panel = page.locator("#panel-similar")
    listed = panel.get_by_test_id("similar-calls").locator("li")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text(PAST[:40])
    expect(listed.first).to_contain_text("Same model: Nordvale Medical Aurion 64")
    expect(listed.first.get_by_test_id("similar-fix")).to_have_text(
        f"Fixed by “{article['title']}”"
    )

    # keyboard only: out of the search box, p to the panel, Tab to the call, Enter opens it
    page.keyboard.press("Escape")
    page.keyboard.press("p")
    expect(panel.get_by_role("heading", name="Similar past calls")).to_be_focused()
    page.keyboard.press("Tab")
    expect(panel.get_by_role("link", name=f"#{past}")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ui/calls/{past}")
    expect(page.get_by_test_id("state")).to_have_text("resolved")
