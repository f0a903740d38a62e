"""Tier 2 in the console: the work order from the package, the live queue, the escalate
preview by POST, and the brief as safe HTML (in Chromium, and as plain form posts)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Request, expect

from app.db import transaction
from app.web.markdown import to_html
from scripts.load_demo import Demo, load_demo
from tests.web.conftest import Live, sign_in

SERIAL = "NV-CT-40811"  # Farid Haddad is its primary engineer
SYMPTOM = "CT makes a popping sound and the images have streaks"
NOTE = "Caller says <script>window.__pwned = 1</script> and **check the HV cable**"


# -- set-up through the API ---------------------------------------------------------------


def _escalated(api: Any, demo: Demo, *, note: str = "", accept: bool = True) -> tuple[int, int]:
    """A call searched and escalated by Dana (accepted by Erik): (call id, escalation id)."""
    dana = {"X-API-Key": demo.keys["Dana Reyes"]}
    call = api.post(
        "/calls",
        json={
            "asset_id": demo.assets[SERIAL],
            "caller_name": "Sam Patel",
            "callback_number": "+44 20 7946 9999",
            "urgency": "system_down",
            "symptom": SYMPTOM,
        },
        headers=dana,
    )
    assert call.status_code == 201, call.text
    call_id = call.json()["id"]
    searched = api.post(f"/calls/{call_id}/search", json={"query": "popping"}, headers=dana)
    assert searched.status_code == 200, searched.text
    if note:
        noted = api.post(f"/calls/{call_id}/notes", json={"text": note}, headers=dana)
        assert noted.status_code == 201, noted.text
    sent = api.post(
        f"/calls/{call_id}/escalate",
        json={"reason": "Arcing persists", "nothing_applicable": "needs the covers off"},
        headers=dana,
    )
    assert sent.status_code == 201, sent.text
    escalation_id = sent.json()["id"]
    if accept:
        taken = api.post(
            f"/escalations/{escalation_id}/accept",
            headers={"X-API-Key": demo.keys["Erik Lindqvist"]},
        )
        assert taken.status_code == 200, taken.text
    return call_id, escalation_id


def _api(live: Live) -> httpx.Client:
    return httpx.Client(base_url=live.url, timeout=30)


# -- in the browser -----------------------------------------------------------------------


def test_work_order_from_the_package_with_the_primary_preselected(page: Page, live: Live) -> None:
    with _api(live) as api:
        call_id, escalation_id = _escalated(api, live.demo)
    farid = live.demo.people["Farid Haddad"]
    sign_in(page, live, "Erik Lindqvist")
    page.goto(f"{live.url}/ui/escalations/{escalation_id}")

    form = page.get_by_test_id("work-order-form")
    expect(page.locator("#field_engineer_id")).to_have_value(str(farid))
    expect(page.locator("#field_engineer_id option:checked")).to_contain_text("primary engineer")
    expect(form.locator("[data-part-row]")).to_have_count(3)
    page.fill("#fault", "HV cable arcing at the tube end")
    page.fill("#part-0-part_number", "HV-CBL-2200")
    page.fill("#part-0-description", "HV cable, tube end")
    # a fourth part: the script adds a row and puts the keyboard in it
    page.get_by_role("button", name="Add a part").click()
    expect(form.locator("[data-part-row]")).to_have_count(4)
    expect(page.locator("#part-3-part_number")).to_be_focused()
    expect(page.get_by_role("group", name="Part 4").get_by_label("Quantity")).to_have_value("1")
    page.keyboard.type("SEAL-17")
    page.fill("#part-3-quantity", "2")
    page.fill("#target_date", "2031-05-02")
    page.fill("#visit-notes", "Ask for the radiographer on duty")
    page.get_by_test_id("send-work-order").click()

    page.wait_for_url(re.compile(rf".*/ui/escalations/{escalation_id}\?done=work_order"))
    expect(page.locator(".flash")).to_contain_text("field engineer")
    expect(page.get_by_test_id("state")).to_have_text("field")
    expect(page.get_by_test_id("owner")).to_have_text("Farid Haddad")
    order = page.get_by_test_id("work-order")
    expect(order.get_by_test_id("work-order-state")).to_have_text("requested")
    expect(order.get_by_test_id("work-order-engineer")).to_contain_text("Farid Haddad")
    expect(order.get_by_test_id("work-order-parts")).to_contain_text("1 × HV-CBL-2200")
    expect(order.get_by_test_id("work-order-parts")).to_contain_text("2 × SEAL-17")
    expect(page.get_by_test_id("work-order-form")).to_have_count(0)  # one open visit at a time

    # tier 2 calls the visit off, with the reason: the call comes back to Erik
    page.get_by_test_id("cancel-work-order").click()
    expect(page.locator("#cancel-reason")).to_be_focused()  # required: the browser says so
    page.fill("#cancel-reason", "Fixed remotely after all")
    page.get_by_test_id("cancel-work-order").click()
    page.wait_for_url(re.compile(r".*done=work_order_cancelled"))
    expect(order.get_by_test_id("work-order-state")).to_have_text("cancelled")
    expect(order).to_contain_text("Fixed remotely after all")
    expect(page.get_by_test_id("state")).to_have_text("accepted")
    expect(page.get_by_test_id("owner")).to_have_text("Erik Lindqvist")
    expect(page.get_by_test_id("work-order-form")).to_be_visible()
    assert f"/ui/calls/{call_id}" in page.content()


def test_refused_work_order_keeps_what_was_typed_and_focuses_the_first_error(
    page: Page, live: Live
) -> None:
    with _api(live) as api:
        _, escalation_id = _escalated(api, live.demo)
    sign_in(page, live, "Erik Lindqvist")
    page.goto(f"{live.url}/ui/escalations/{escalation_id}")
    page.fill("#fault", "Tube arcing")
    page.fill("#part-1-description", "a part without its number")
    page.get_by_test_id("send-work-order").click()
    expect(page.locator("#visit-summary")).to_contain_text("Part 2, part number")
    expect(page.locator("#part-1-part_number")).to_be_focused()
    expect(page.locator("#part-1-part_number")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#part-1-description")).to_have_value("a part without its number")
    expect(page.locator("#fault")).to_have_value("Tube arcing")


def test_queue_counts_down_and_refreshes_itself(page: Page, live: Live) -> None:
    with _api(live) as api:
        _, first = _escalated(api, live.demo, accept=False)
        sign_in(page, live, "Erik Lindqvist")
        page.clock.install()
        page.goto(f"{live.url}/ui/escalations")
        expect(page.get_by_test_id("pending-count")).to_have_text("1 pending")
        assert page.title().startswith("(1) Escalation queue")
        countdown = page.locator(f"tr[data-escalation='{first}'] [data-testid=countdown]")
        expect(countdown).to_have_text(re.compile(r"^(29|30) min left$"))

        # a second escalation arrives: the list alone is swapped, the keyboard stays put
        link = page.locator(f"#escalation-link-{first}")
        link.focus()
        _escalated(api, live.demo, accept=False)
        with page.expect_response(lambda r: r.url.endswith("/ui/escalations")):
            page.clock.fast_forward("00:16")
        expect(page.get_by_test_id("pending-count")).to_have_text("2 pending")
        expect(page.locator("#queue-list tbody tr")).to_have_count(2)
        expect(page).to_have_title(re.compile(r"^\(2\) Escalation queue"))
        expect(page.locator(f"#escalation-link-{first}")).to_be_focused()
        expect(page.locator("#queue-announce")).to_have_text("2 escalations pending")

    # time passes without a reload: minutes left, then overdue in words (not colour alone)
    page.clock.fast_forward("10:00")
    expect(countdown).to_have_text(re.compile(r"^(19|20) min left$"))
    page.clock.fast_forward("25:00")
    expect(countdown).to_have_text(re.compile(r"^⚠ overdue by (4|5|6) min$"))
    expect(countdown).to_have_class(re.compile(r"\boverdue\b"))


def test_update_preview_posts_and_leaves_nothing_in_the_address(page: Page, live: Live) -> None:
    with _api(live) as api:
        call = api.post(
            "/calls",
            json={
                "asset_id": live.demo.assets[SERIAL],
                "caller_name": "Sam Patel",
                "callback_number": "+44 20 7946 9999",
                "urgency": "degraded",
                "symptom": SYMPTOM,
            },
            headers={"X-API-Key": live.demo.keys["Dana Reyes"]},
        ).json()
    sign_in(page, live, "Dana Reyes")
    page.goto(f"{live.url}/ui/calls/{call['id']}/escalate")
    page.fill("#reason", "Arcing persists after warm-up")
    posted: list[Request] = []
    page.on("request", lambda r: posted.append(r) if "/escalate" in r.url else None)
    page.get_by_role("button", name="Update preview").click()
    expect(page.get_by_test_id("brief")).to_contain_text("Arcing persists after warm-up")
    expect(page.locator("[data-preview-status]")).to_have_text("Preview updated")
    assert [r.method for r in posted] == ["POST"]
    assert "?" not in posted[0].url
    assert "csrf_token" in (posted[0].post_data or "")
    assert page.url == f"{live.url}/ui/calls/{call['id']}/escalate"


def test_brief_is_rendered_markdown_with_lists_and_no_raw_markup(page: Page, live: Live) -> None:
    with _api(live) as api:
        _, escalation_id = _escalated(api, live.demo, note=NOTE, accept=False)
    sign_in(page, live, "Erik Lindqvist")
    page.goto(f"{live.url}/ui/escalations/{escalation_id}")
    expect(page.get_by_test_id("countdown")).to_have_text(re.compile(r"^(29|30) min left$"))
    brief = page.get_by_test_id("brief")
    expect(brief.locator("h3").first).to_contain_text(re.compile(r"Call \d+ — SYSTEM DOWN"))
    expect(brief.locator("h4", has_text="Already checked")).to_be_visible()
    expect(brief.locator("ul > li").first).to_be_visible()
    expect(brief.locator("strong", has_text="Caller:")).to_be_visible()
    expect(brief.locator("strong", has_text="check the HV cable")).to_be_visible()
    text = brief.inner_text()
    assert not re.search(r"\*\*|^#", text, re.MULTILINE)
    # the script typed into a note is shown as text, never run
    expect(brief).to_contain_text("<script>window.__pwned = 1</script>")
    expect(brief.locator("script")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None
    # the brief scrolls on its own and takes keyboard focus
    expect(brief).to_have_attribute("tabindex", "0")


# -- without the script: plain HTTP -------------------------------------------------------


@pytest.fixture
def desk(seeded: TestClient) -> tuple[TestClient, Demo]:
    """The seeded app with the demo people; no one signed in."""
    with transaction(seeded.app.state.sessions) as session:  # type: ignore[attr-defined]
        demo = load_demo(session=session)
    seeded.headers.pop("X-API-Key", None)
    return seeded, demo


def _console(client: TestClient, demo: Demo, name: str) -> str:
    """Sign `name` in to the console; the form token of their session."""
    client.cookies.clear()
    login = client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token
    client.post("/ui/login", data={"api_key": demo.keys[name], "csrf_token": token.group(1)})
    any_page = client.get("/ui/escalations")  # a 403 page has the sign-out form's token too
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', any_page.text)
    assert csrf
    return csrf.group(1)


VISIT = {
    "fault": "HV cable arcing at the tube end",
    "part_number": ["HV-CBL-2200", "", ""],
    "part_description": ["HV cable, tube end", "", ""],
    "part_quantity": ["1", "1", "1"],
    "target_date": "2031-05-02",
    "notes": "",
}


def test_work_order_form_posts_without_script(desk) -> None:
    client, demo = desk
    call_id, escalation_id = _escalated(client, demo)
    csrf = _console(client, demo, "Erik Lindqvist")
    page = client.get(f"/ui/escalations/{escalation_id}")
    farid = demo.people["Farid Haddad"]
    assert re.search(rf'<option value="{farid}" selected>Farid Haddad \(the scanner', page.text)
    assert page.text.count('name="part_number"') == 4  # three rows, and the script's template

    sent = client.post(
        f"/ui/escalations/{escalation_id}/work-order",
        data={**VISIT, "csrf_token": csrf, "field_engineer_id": str(farid)},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == f"/ui/escalations/{escalation_id}?done=work_order"
    api = {"X-API-Key": demo.keys["Erik Lindqvist"]}
    orders = client.get("/work-orders", params={"call_id": call_id}, headers=api).json()
    assert len(orders) == 1
    assert orders[0]["parts"] == [
        {"part_number": "HV-CBL-2200", "description": "HV cable, tube end", "quantity": 1}
    ]
    assert orders[0]["field_engineer"]["id"] == farid
    assert orders[0]["target_date"] == "2031-05-02"
    assert client.get(f"/calls/{call_id}", headers=api).json()["state"] == "field"

    # cancelling needs a reason; with one, the call is back at tier 2
    order_id = orders[0]["id"]
    url = f"/ui/escalations/{escalation_id}/work-orders/{order_id}/cancel"
    refused = client.post(url, data={"csrf_token": csrf, "reason": " "})
    assert refused.status_code == 422
    assert 'id="cancel-reason-error"' in refused.text
    done = client.post(
        url,
        data={"csrf_token": csrf, "reason": "fixed remotely", "version": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert client.get(f"/calls/{call_id}", headers=api).json()["state"] == "accepted"


def test_work_order_errors_are_shown_next_to_the_fields(desk) -> None:
    client, demo = desk
    _, escalation_id = _escalated(client, demo)
    csrf = _console(client, demo, "Erik Lindqvist")
    refused = client.post(
        f"/ui/escalations/{escalation_id}/work-order",
        data={
            **VISIT,
            "csrf_token": csrf,
            "fault": "",
            "part_number": ["", "X-1", ""],
            "part_description": ["a part without its number", "", ""],
            "part_quantity": ["1", "many", "1"],
            "field_engineer_id": str(demo.people["Dana Reyes"]),  # not a field engineer
            "target_date": "someday",
        },
    )
    assert refused.status_code == 422
    for field in ("fault", "part-0-part_number", "part-1-quantity", "target_date"):
        assert f'id="{field}-error"' in refused.text, field
    assert "say what fault you found" in refused.text
    assert 'value="a part without its number"' in refused.text  # what was typed is kept
    # the engineer's check runs once the form is well formed
    wrong_person = client.post(
        f"/ui/escalations/{escalation_id}/work-order",
        data={**VISIT, "csrf_token": csrf, "field_engineer_id": str(demo.people["Dana Reyes"])},
    )
    assert wrong_person.status_code == 422
    assert 'id="field_engineer_id-error"' in wrong_person.text
    assert "choose an active field engineer" in wrong_person.text


@pytest.mark.parametrize("who", ["Dana Reyes", "Farid Haddad"])
def test_only_tier2_may_request_a_work_order(desk, who: str) -> None:
    client, demo = desk
    _, escalation_id = _escalated(client, demo)
    csrf = _console(client, demo, who)
    refused = client.post(
        f"/ui/escalations/{escalation_id}/work-order",
        data={**VISIT, "csrf_token": csrf, "field_engineer_id": str(demo.people["Farid Haddad"])},
    )
    assert refused.status_code == 403
    assert "work_orders:request" in refused.text


def test_another_tier2_engineer_sees_no_form_and_is_refused(desk) -> None:
    client, demo = desk
    _, escalation_id = _escalated(client, demo)  # Erik has it
    csrf = _console(client, demo, "Priya Nair")
    page = client.get(f"/ui/escalations/{escalation_id}")
    assert 'data-testid="work-order-form"' not in page.text
    refused = client.post(
        f"/ui/escalations/{escalation_id}/work-order",
        data={**VISIT, "csrf_token": csrf, "field_engineer_id": str(demo.people["Farid Haddad"])},
    )
    assert refused.status_code == 403


def test_a_work_order_needs_an_accepted_call(desk) -> None:
    client, demo = desk
    _, escalation_id = _escalated(client, demo, accept=False)
    csrf = _console(client, demo, "Erik Lindqvist")
    refused = client.post(
        f"/ui/escalations/{escalation_id}/work-order",
        data={**VISIT, "csrf_token": csrf, "field_engineer_id": str(demo.people["Farid Haddad"])},
    )
    assert refused.status_code == 409
    assert "a work order needs a call tier 2 has accepted" in refused.text


def test_preview_is_a_post_and_the_form_has_no_get(desk) -> None:
    client, demo = desk
    _, _ = _escalated(client, demo, accept=False)
    dana = {"X-API-Key": demo.keys["Dana Reyes"]}
    call = client.post(
        "/calls",
        json={
            "asset_id": demo.assets[SERIAL],
            "caller_name": "Sam Patel",
            "callback_number": "+44 20 7946 9999",
            "urgency": "degraded",
            "symptom": SYMPTOM,
        },
        headers=dana,
    ).json()
    csrf = _console(client, demo, "Dana Reyes")
    form = client.get(f"/ui/calls/{call['id']}/escalate")
    assert 'formmethod="get"' not in form.text
    assert f'formaction="/ui/calls/{call["id"]}/escalate/preview"' in form.text
    preview = client.post(
        f"/ui/calls/{call['id']}/escalate/preview",
        data={"csrf_token": csrf, "reason": "Arcing persists", "idempotency_key": "k-1"},
    )
    assert preview.status_code == 200
    assert "Arcing persists" in preview.text
    assert 'value="k-1"' in preview.text  # the same retry key goes with the send
    forged = client.post(f"/ui/calls/{call['id']}/escalate/preview", data={"reason": "x"})
    assert forged.status_code == 403


def test_queue_fragment_for_the_script(desk) -> None:
    client, demo = desk
    _, escalation_id = _escalated(client, demo, accept=False)
    _console(client, demo, "Erik Lindqvist")
    page = client.get("/ui/escalations")
    assert "<title>(1) Escalation queue" in page.text
    assert 'data-testid="pending-count">1 pending' in page.text
    fragment = client.get("/ui/escalations", headers={"X-Partial": "1"})
    assert fragment.status_code == 200
    assert '<template data-swap="#queue-list" data-pending="1">' in fragment.text
    assert f'id="escalation-link-{escalation_id}"' in fragment.text
    assert "<html" not in fragment.text
    assert re.search(r'data-due="[^"]+\+00:00" data-now="[^"]+"', fragment.text)


def test_note_with_a_script_never_reaches_the_page_as_markup(desk) -> None:
    client, demo = desk
    _, escalation_id = _escalated(client, demo, note=NOTE)
    _console(client, demo, "Erik Lindqvist")
    page = client.get(f"/ui/escalations/{escalation_id}").text
    brief = page.split('data-testid="brief"', 1)[1].split("</div>", 1)[0]
    assert "<script" not in brief
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in brief
    assert "<strong>check the HV cable</strong>" in brief


# -- the Markdown filter ------------------------------------------------------------------


def test_article_text_renders_lists_and_line_breaks_and_no_markup() -> None:
    escalate_when = (
        "- The curve crossed the threshold and the scan still did not start.\n"
        "- Monitoring images do not display.\n"
        "- <script>alert(1)</script> [click](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    html = str(to_html(escalate_when))
    assert html.count("<li>") == 3
    assert not re.search(r"<(script|img|a)\b", html)
    assert "&lt;script&gt;" in html  # shown as the text it is
    assert "first line<br>" in str(to_html("first line\nsecond line"))
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">' in str(
        to_html("[site](https://example.org)")
    )
    assert str(to_html("# Call 1\n## Part", heading=3)).startswith("<h3>Call 1</h3>\n<h4>")
    assert str(to_html("")) == ""
