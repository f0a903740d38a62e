"""The field engineer's screens: My work, a work order's visit, and the refusals; in
Chromium and as plain form posts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from app.db import transaction
from scripts.load_demo import Demo, load_demo
from tests.web.conftest import Live, sign_in

FIELD, OTHER_FIELD, DISPATCHER, TIER2 = (
    "Farid Haddad",
    "Grace Okafor",
    "Dana Reyes",
    "Erik Lindqvist",
)
SERIAL = "NV-CT-40811"  # Farid Haddad is its primary engineer
FAULT = "HV cable arcing at the tube end; the cable and its seal need replacing"
PARTS = [
    {"part_number": "HV-CBL-2200", "description": "HV cable, tube end", "quantity": 1},
    {"part_number": "SEAL-17", "description": "Cable seal", "quantity": 2},
]


def _as(demo: Demo, name: str) -> dict[str, str]:
    return {"X-API-Key": demo.keys[name]}


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def request_visit(api: httpx.Client, demo: Demo) -> tuple[int, int]:
    """Through the API: the dispatcher opens, searches, tries and escalates a call on
    Farid's CT; tier 2 accepts it and asks for a visit (Farid, the primary, by default).
    Returns (call id, work order id)."""
    dispatcher = _as(demo, DISPATCHER)
    call = _ok(
        api.post(
            "/calls",
            json={
                "caller_name": "Sam Patel",
                "callback_number": "+44 20 7946 9999",
                "asset_id": demo.assets[SERIAL],
                "symptom": "CT makes a popping sound and the images have streaks",
                "urgency": "system_down",
                "site_contact": "Radiographer on duty, ext 2231",
            },
            headers=dispatcher,
        ),
        201,
    )
    cid = call["id"]
    found = _ok(api.post(f"/calls/{cid}/search", json={"query": "popping"}, headers=dispatcher))
    tried = {"article_id": found["results"][0]["id"], "outcome": "no_change"}
    _ok(api.post(f"/calls/{cid}/attempts", json=tried, headers=dispatcher), 201)
    escalated = api.post(f"/calls/{cid}/escalate", json={"reason": "arcing"}, headers=dispatcher)
    eid = _ok(escalated, 201)["id"]
    _ok(api.post(f"/escalations/{eid}/accept", headers=_as(demo, TIER2)))
    order = api.post(
        f"/calls/{cid}/work-orders",
        json={"fault": FAULT, "parts": PARTS, "target_date": "2031-05-02", "notes": "Ask at desk"},
        headers=_as(demo, TIER2),
    )
    return cid, _ok(order, 201)["id"]


def assign_actions(api: httpx.Client, demo: Demo, cid: int) -> tuple[int, int]:
    """An overdue action for Farid and one for Grace on Farid's scanner, and a callback
    due soon for Farid; returns the two action ids."""
    dispatcher, due = _as(demo, DISPATCHER), datetime.now(UTC) - timedelta(hours=2, minutes=5)
    ids = []
    for title, who in (("Order HV cable", FIELD), ("Send loaner probe", OTHER_FIELD)):
        body = {"title": title, "assignee_id": demo.people[who], "due_at": due.isoformat()}
        ids.append(_ok(api.post(f"/calls/{cid}/actions", json=body, headers=dispatcher), 201)["id"])
    callback = {
        "scheduled_for": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),
        "owner_id": demo.people[FIELD],
        "notes": "Tell them when the engineer arrives",
    }
    _ok(api.post(f"/calls/{cid}/contacts", json=callback, headers=dispatcher), 201)
    return ids[0], ids[1]


@pytest.fixture
def api(live: Live) -> Iterator[httpx.Client]:
    """The live app's HTTP API (demo keys per request)."""
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


# -- in Chromium ------------------------------------------------------------------------


def test_field_engineer_books_arrives_and_fixes_from_my_work(
    page: Page, live: Live, api: httpx.Client
) -> None:
    cid, wid = request_visit(api, live.demo)
    sign_in(page, live, FIELD)
    page.goto(f"{live.url}/ui/work")
    row = page.get_by_test_id("my-work-orders").locator("tr", has_text=f"Work order #{wid}")
    expect(row).to_contain_text("requested")
    expect(row).to_contain_text(SERIAL)
    expect(row).to_contain_text("St Aldhelm General Hospital")
    expect(row).to_contain_text("HV cable arcing")
    expect(row).to_contain_text("2 × SEAL-17")
    expect(row).to_contain_text("2031-05-02")
    scanner = page.get_by_test_id(f"scanner-{SERIAL}")
    expect(scanner).to_contain_text("primary engineer")
    expect(scanner.get_by_role("link", name=f"Call #{cid}")).to_be_visible()

    row.get_by_role("link", name=f"Work order #{wid}").click()
    page.wait_for_url(f"**/ui/work-orders/{wid}")
    summary = page.get_by_test_id("call-summary")
    for expected in ("popping sound", "Sam Patel", "+44 20 7946 9999", "ext 2231"):
        expect(summary).to_contain_text(expected)
    expect(page.get_by_test_id("fault")).to_have_text(FAULT)

    page.get_by_label("Date and time").fill("2031-05-02T09:30")
    page.get_by_label("Time zone (offset from UTC)").select_option("+01:00")
    page.get_by_test_id("schedule").click()
    expect(page.locator(".flash")).to_contain_text("Visit booked")
    expect(page.get_by_test_id("booked")).to_have_text("2031-05-02 08:30 UTC")
    expect(page.get_by_test_id("wo-state")).to_have_text("scheduled")

    page.get_by_test_id("arrive").click()
    expect(page.get_by_test_id("wo-state")).to_have_text("on site")
    page.get_by_label("Work done").fill("Replaced the HV cable and its seal; 20 test scans clean")
    page.get_by_label("Part number, row 1").fill("HV-CBL-2200")
    page.get_by_label("Description, row 1").fill("HV cable, tube end")
    # more rows without a script: the form comes back with what was typed
    page.get_by_test_id("more-rows").click()
    expect(page.get_by_label("Part number, row 6")).to_be_visible()
    expect(page.get_by_label("Part number, row 1")).to_have_value("HV-CBL-2200")
    page.get_by_label("Part number, row 5").fill("SEAL-17")
    page.get_by_label("Quantity, row 5").fill("2")
    page.get_by_label("Fixed: the scanner works").check()
    page.get_by_test_id("complete").click()

    expect(page.locator(".flash")).to_contain_text("the call is resolved")
    expect(page.get_by_test_id("call-state")).to_have_text("resolved")
    expect(page.get_by_test_id("result")).to_contain_text("Fixed")
    expect(page.locator("#visit")).to_contain_text("SEAL-17")
    page.goto(f"{live.url}/ui/calls/{cid}")
    expect(page.get_by_test_id("state")).to_have_text("resolved")
    page.goto(f"{live.url}/ui/work")
    expect(page.get_by_test_id("my-work-orders")).to_have_count(0)


def test_returning_without_findings_says_so_and_keeps_the_typing(
    page: Page, live: Live, api: httpx.Client
) -> None:
    cid, wid = request_visit(api, live.demo)
    _ok(api.post(f"/work-orders/{wid}/arrive", headers=_as(live.demo, FIELD)))
    sign_in(page, live, FIELD)
    page.goto(f"{live.url}/ui/work-orders/{wid}")
    page.get_by_label("Work done").fill("Swapped the cable; arcing persists")
    page.get_by_label("Part number, row 2").fill("HV-CBL-2200")
    page.get_by_label("Not fixed: return the call to tier 2").check()
    page.get_by_test_id("complete").click()

    expect(page.get_by_test_id("error-summary")).to_contain_text("Findings")
    expect(page.locator("#findings-error")).to_contain_text("say what you found")
    expect(page.locator("#findings")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#findings")).to_be_focused()
    expect(page.get_by_label("Work done")).to_have_value("Swapped the cable; arcing persists")
    expect(page.get_by_label("Part number, row 2")).to_have_value("HV-CBL-2200")
    expect(page.get_by_label("Not fixed: return the call to tier 2")).to_be_checked()

    page.locator("#findings").fill("Tube housing cracked: needs a tube swap, quote required")
    page.get_by_test_id("complete").click()
    expect(page.locator(".flash")).to_contain_text("back with tier 2")
    expect(page.get_by_test_id("call-state")).to_have_text("accepted")
    call = _ok(api.get(f"/calls/{cid}", headers=_as(live.demo, TIER2)))
    assert call["owners"]["current"]["name"] == TIER2


def test_my_work_acknowledges_and_completes_my_actions(
    page: Page, live: Live, api: httpx.Client
) -> None:
    cid, _ = request_visit(api, live.demo)
    mine, _ = assign_actions(api, live.demo, cid)
    sign_in(page, live, FIELD)
    page.goto(f"{live.url}/ui/work")
    action = page.locator(f"#action-{mine}")
    expect(action.get_by_test_id("due")).to_have_text(re.compile(r"overdue by 2 h \d+ min"))
    expect(page.get_by_test_id("overdue-on-scanners")).to_contain_text("Send loaner probe")
    expect(page.get_by_test_id("overdue-on-scanners")).to_contain_text(OTHER_FIELD)
    expect(page.get_by_test_id("follow-ups-due")).to_contain_text("+44 20 7946 9999")
    expect(page.get_by_test_id("follow-ups-due")).to_contain_text("due in")

    action.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".flash")).to_contain_text("Acknowledged")
    action.get_by_label("How it ended").fill("Cable ordered, arrives Tuesday")
    action.get_by_role("button", name="done").click()
    expect(page.locator(".flash")).to_contain_text("Action done")
    expect(page.locator(f"#action-{mine}")).to_have_count(0)
    done = _ok(api.get(f"/actions/{mine}", headers=_as(live.demo, FIELD)))
    assert (done["state"], done["outcome"]) == ("done", "Cable ordered, arrives Tuesday")


def test_dispatcher_opening_the_visit_form_gets_the_refusal(
    page: Page, live: Live, api: httpx.Client
) -> None:
    _, wid = request_visit(api, live.demo)
    sign_in(page, live, DISPATCHER)
    response = page.goto(f"{live.url}/ui/work-orders/{wid}/complete")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_contain_text("work_orders:work")
    # reading the work order is allowed (as in the API); recording the visit is not
    page.goto(f"{live.url}/ui/work-orders/{wid}")
    expect(page.get_by_test_id("fault")).to_have_text(FAULT)
    expect(page.get_by_test_id("schedule")).to_have_count(0)
    expect(page.locator("#visit")).to_contain_text("Farid Haddad records this visit")


# -- plain form posts ---------------------------------------------------------------------


class ConsoleClient:
    """A TestClient signed in to the console as one demo person, who can switch."""

    def __init__(self, client: TestClient, demo: Demo) -> None:
        self.client, self.demo, self.csrf = client, demo, ""

    def sign_in(self, name: str) -> None:
        self.client.cookies.clear()
        login = self.client.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token
        data = {"api_key": self.demo.keys[name], "csrf_token": token.group(1)}
        self.client.post("/ui/login", data=data)
        work = self.client.get("/ui/work")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', work.text)
        assert csrf, work.text
        self.csrf = csrf.group(1)

    def post(self, url: str, **data: Any) -> httpx.Response:
        return self.client.post(url, data={"csrf_token": self.csrf, **data}, follow_redirects=False)


@pytest.fixture
def desk(seeded: TestClient) -> ConsoleClient:
    """The seeded app with the demo people; no admin key in the default headers."""
    with transaction(seeded.app.state.sessions) as session:  # type: ignore[attr-defined]
        demo = load_demo(session=session)
    seeded.headers.pop("X-API-Key", None)
    return ConsoleClient(seeded, demo)


def _order(desk: ConsoleClient, wid: int) -> Any:
    return _ok(desk.client.get(f"/work-orders/{wid}", headers=_as(desk.demo, FIELD)))


def test_the_visit_without_script_books_arrives_and_resolves(desk: ConsoleClient) -> None:
    cid, wid = request_visit(desk.client, desk.demo)
    desk.sign_in(FIELD)
    base = f"/ui/work-orders/{wid}"
    page = desk.client.get(base)
    assert page.status_code == 200
    assert 'name="version" value="1"' in page.text
    booked = desk.post(
        f"{base}/schedule", version="1", scheduled_for="2031-05-02T09:30", offset="-05:00"
    )
    assert booked.status_code == 303
    assert booked.headers["location"] == f"{base}?done=scheduled"
    assert _order(desk, wid)["scheduled_for"].startswith("2031-05-02T14:30")
    version = str(_order(desk, wid)["version"])
    assert desk.post(f"{base}/arrive", version=version).status_code == 303
    version = str(_order(desk, wid)["version"])
    done = desk.post(
        f"{base}/complete",
        version=version,
        work_done="Replaced the cable",
        result="fixed",
        part_number=["HV-CBL-2200", "", "SEAL-17"],
        description=["HV cable", "", ""],
        quantity=["", "", "2"],
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"{base}?done=fixed"
    order = _order(desk, wid)
    assert order["parts_used"] == [
        {"part_number": "HV-CBL-2200", "description": "HV cable", "quantity": 1},
        {"part_number": "SEAL-17", "description": "", "quantity": 2},
    ]
    call = _ok(desk.client.get(f"/calls/{cid}", headers=_as(desk.demo, FIELD)))
    assert call["state"] == "resolved"


def test_form_errors_are_in_words_and_keep_what_was_typed(desk: ConsoleClient) -> None:
    _, wid = request_visit(desk.client, desk.demo)
    desk.sign_in(FIELD)
    base = f"/ui/work-orders/{wid}"
    bad_time = desk.post(f"{base}/schedule", version="1", scheduled_for="", offset="+01:00")
    assert bad_time.status_code == 422
    assert 'id="scheduled_for-error"' in bad_time.text
    assert "date and time of the visit" in bad_time.text
    assert desk.post(f"{base}/arrive", version="1").status_code == 303
    returned = desk.post(
        f"{base}/complete",
        version="2",
        work_done="Swapped the cable",
        result="returned_to_tier2",
        part_number=["", "X-9"],
        description=["", ""],
        quantity=["", "lots"],
    )
    assert returned.status_code == 422
    assert "say what you found" in returned.text
    assert "give a whole number from 1 to 1000" in returned.text
    assert 'value="X-9"' in returned.text
    assert "Swapped the cable</textarea>" in returned.text
    assert 'value="returned_to_tier2" checked' in returned.text
    assert _order(desk, wid)["state"] == "on_site"  # nothing saved
    more = desk.post(
        f"{base}/complete",
        version="2",
        work_done="Half typed",
        more="1",
        part_number=["A-1", "", ""],
        description=["", "", ""],
        quantity=["", "", ""],
    )
    assert more.status_code == 200
    assert more.text.count('name="part_number"') == 6
    assert 'value="A-1"' in more.text
    assert _order(desk, wid)["state"] == "on_site"


def test_a_stale_form_gets_a_conflict_in_words(desk: ConsoleClient) -> None:
    _, wid = request_visit(desk.client, desk.demo)
    desk.sign_in(FIELD)
    base = f"/ui/work-orders/{wid}"
    assert desk.post(f"{base}/arrive", version="1").status_code == 303
    stale = desk.post(
        f"{base}/schedule", version="1", scheduled_for="2031-05-02T09:30", offset="+00:00"
    )
    assert stale.status_code == 409
    assert "changed this work order while you were filling in the form" in stale.text
    assert "nothing was saved" in stale.text
    again = desk.post(f"{base}/arrive", version="2")
    assert again.status_code == 409
    assert "on site now, so that step no longer applies" in again.text


def test_only_the_assigned_field_engineer_records_the_visit(desk: ConsoleClient) -> None:
    _, wid = request_visit(desk.client, desk.demo)
    base = f"/ui/work-orders/{wid}"
    desk.sign_in(DISPATCHER)
    assert desk.client.get(base).status_code == 200  # work_orders:read, as in the API
    refused = desk.post(f"{base}/arrive", version="1")
    assert refused.status_code == 403
    assert "work_orders:work" in refused.text
    desk.sign_in(OTHER_FIELD)
    form = desk.client.get(f"{base}/complete")
    assert form.status_code == 403
    assert "assigned to Farid Haddad" in form.text
    assert desk.post(f"{base}/arrive", version="1").status_code == 403
    assert _order(desk, wid)["state"] == "requested"


def test_my_actions_without_script(desk: ConsoleClient) -> None:
    cid, _ = request_visit(desk.client, desk.demo)
    mine, grace = assign_actions(desk.client, desk.demo, cid)
    desk.sign_in(FIELD)
    work = desk.client.get("/ui/work")
    assert work.status_code == 200
    assert "overdue by 2 h" in work.text
    assert f'href="/ui/calls/{cid}"' in work.text
    url = f"/ui/work/actions/{mine}"
    assert desk.post(f"{url}/acknowledge", version="1").status_code == 303
    stale = desk.post(f"{url}/acknowledge", version="1")
    assert stale.status_code == 409
    assert "changed since this page was loaded" in stale.text
    assert desk.post(f"{url}/complete", version="2", outcome="ordered").status_code == 303
    assert desk.post(f"/ui/work/actions/{grace}/acknowledge").status_code == 403
    desk.sign_in(TIER2)  # no scanners, no actions: the page still answers, in words
    empty = desk.client.get("/ui/work")
    assert empty.status_code == 200
    assert "not the primary or backup engineer" in empty.text
    desk.client.cookies.clear()
    signed_out = desk.client.get("/ui/work", follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/ui/login?next=/ui/work"
