"""The call screen's side panels (attachments, actions, contact log): plain form posts and
role refusals over HTTP, and each panel in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, FilePayload, Page, expect

from app.auth import service as auth_service
from app.auth.models import Person
from app.auth.schemas import KeyCreate
from app.db import transaction
from scripts.load_demo import Demo, load_demo
from tests.web.conftest import Live, sign_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 4
BERLIN = ZoneInfo("Europe/Berlin")


# -- over HTTP, without JavaScript -----------------------------------------------------------


class Desk:
    """A TestClient signed in to the console as one demo person at a time."""

    def __init__(self, client: TestClient, demo: Demo) -> None:
        self.client, self.demo = client, demo
        self.csrf = ""

    def as_(self, name: str, key: str | None = None) -> Desk:
        self.client.cookies.clear()
        login = self.client.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token
        raw = key or self.demo.keys[name]
        done = self.client.post("/ui/login", data={"api_key": raw, "csrf_token": token.group(1)})
        assert done.status_code in (200, 303), done.text
        # any console page carries the session's token (the sign-out form), a 403 one too
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.client.get("/ui/calls").text)
        assert found
        self.csrf = found.group(1)
        return self

    def post(self, path: str, **data: str) -> httpx.Response:
        return self.client.post(path, data={"csrf_token": self.csrf, **data})


@pytest.fixture
def desk(seeded: TestClient) -> Desk:
    with transaction(seeded.app.state.sessions) as session:
        demo = load_demo(session=session)
    seeded.headers.pop("X-API-Key", None)
    seeded.follow_redirects = False
    return Desk(seeded, demo)


def _open_call(desk: Desk) -> int:
    response = desk.client.post(
        "/ui/calls",
        data={
            "csrf_token": desk.csrf,
            "asset_id": str(desk.demo.assets["NV-CT-40811"]),
            "caller_name": "Sam Patel",
            "callback_number": "+44 20 7946 9999",
            "urgency": "degraded",
            "symptom": "table will not move into the bore",
        },
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/ui/calls/")[1].split("?")[0])


def _first_id(kind: str, page: str) -> str:
    found = re.search(rf'id="{kind}-(\d+)"', page)
    assert found, page
    return found.group(1)


def test_plain_posts_attach_assign_and_log_then_come_back_to_the_panel(desk: Desk) -> None:
    client = desk.as_("Dana Reyes").client
    call_id = _open_call(desk)
    base = f"/ui/calls/{call_id}"

    sent = client.post(
        f"{base}/attachments",
        data={"csrf_token": desk.csrf, "description": "the error screen"},
        files={"file": ("screen.png", PNG, "image/png")},
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"{base}?panel_done=attached#panel-attachments"
    page = client.get(sent.headers["location"]).text
    assert "File attached." in page
    link = re.search(rf'href="({base}/attachments/\d+)" download>screen.png<', page)
    assert link, page
    assert "PNG image, 72 bytes" in page
    assert "the error screen" in page
    got = client.get(link.group(1))
    assert got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith('attachment; filename="screen.png"')
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == "sandbox; default-src 'none'"
    api = client.get(f"/calls/{call_id}/attachments/1")
    assert api.status_code == 401  # the API wants a key: the console serves its own

    erik = str(desk.demo.people["Erik Lindqvist"])
    due = {"due_at": "2031-03-30T10:30", "due_tz": "+02:00"}
    done = desk.post(f"{base}/actions", title="Order HV cable", assignee_id=erik, **due)
    assert done.status_code == 303
    page = client.get(f"{base}").text
    assert 'data-testid="action-owner">Erik Lindqvist' in page
    assert "2031-03-30 08:30 UTC" in page  # the offset given was applied
    action_id = _first_id("action", page)
    cancelled = desk.post(f"{base}/actions/{action_id}/cancel", reason="ordered by phone")
    assert cancelled.status_code == 303
    assert "Cancelled: ordered by phone" in client.get(base).text

    when = (datetime.now(BERLIN) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    scheduled = desk.post(f"{base}/callbacks", scheduled_for=when, scheduled_tz="+01:00")
    assert scheduled.status_code == 303
    page = client.get(base).text
    assert 'data-testid="contact-owner">Farid Haddad' in page  # the follow-up owner
    contact_id = _first_id("contact", page)
    made = desk.post(f"{base}/contacts/{contact_id}/made", call_outcome="left_message")
    assert made.status_code == 303
    logged = desk.post(f"{base}/contacts", call_outcome="reached", notes="confirmed the fix")
    assert logged.status_code == 303
    page = client.get(base).text
    assert "made: Left a message" in page
    assert "made: Reached" in page
    assert "confirmed the fix" in page


def test_refused_forms_say_why_next_to_the_field(desk: Desk) -> None:
    client = desk.as_("Dana Reyes").client
    call_id = _open_call(desk)
    base = f"/ui/calls/{call_id}"

    no_due = desk.post(f"{base}/actions", title="Order HV cable", assignee_id="1")
    assert no_due.status_code == 422
    assert 'id="assign-due_at-error">say when it is due<' in no_due.text
    assert 'value="Order HV cable"' in no_due.text

    refused = client.post(
        f"{base}/attachments",
        data={"csrf_token": desk.csrf},
        files={"file": ("tool.exe", EXE, "application/octet-stream")},
    )
    assert refused.status_code == 415
    assert "This type of file is not accepted" in refused.text
    assert 'id="attach-file-error"' in refused.text

    app = client.app
    app.state.settings = app.state.settings.model_copy(update={"max_attachment_bytes": 50})
    large = client.post(
        f"{base}/attachments",
        data={"csrf_token": desk.csrf},
        files={"file": ("screen.png", PNG, "image/png")},
        headers={"X-Partial": "1"},
    )
    assert large.status_code == 413
    assert 'data-swap="#panel-attachments-body"' in large.text
    assert "The file is too large: a file may be at most 50 bytes." in large.text

    past = desk.post(f"{base}/callbacks", scheduled_for="2020-01-01T10:00", scheduled_tz="+00:00")
    assert past.status_code == 422
    assert 'id="schedule-scheduled_for-error">must be in the future<' in past.text
    no_outcome = desk.post(f"{base}/contacts", notes="rang")
    assert no_outcome.status_code == 422
    assert "choose how the call went" in no_outcome.text


def test_roles_and_the_services_own_rules_refuse(desk: Desk) -> None:
    desk.as_("Dana Reyes")
    call_id = _open_call(desk)
    base = f"/ui/calls/{call_id}"
    erik = str(desk.demo.people["Erik Lindqvist"])
    due = {"due_at": "2031-01-10T10:30", "due_tz": "+00:00"}
    assert desk.post(f"{base}/actions", title="Check", assignee_id=erik, **due).status_code == 303
    action_id = _first_id("action", desk.client.get(base).text)

    # a field engineer not looking after this scanner reads the panels, writes nothing
    desk.as_("Grace Okafor")
    page = desk.client.get(base).text
    assert 'data-testid="action-owner">Erik Lindqvist' in page
    assert "Attach a file" not in page
    assert "Assign an action" not in page
    refused = desk.client.post(
        f"{base}/attachments",
        data={"csrf_token": desk.csrf},
        files={"file": ("screen.png", PNG, "image/png")},
    )
    assert refused.status_code == 403
    assert "not on a scanner you look after" in refused.text
    assert desk.post(f"{base}/contacts", call_outcome="reached").status_code == 403
    assert desk.post(f"{base}/actions", title="x", assignee_id=erik, **due).status_code == 403
    # only the assignee acknowledges, only the assigner cancels
    ack = desk.post(f"{base}/actions/{action_id}/acknowledge")
    assert ack.status_code == 403
    assert "only they (or an admin) may work it" in ack.text
    desk.as_("Erik Lindqvist")
    assert desk.post(f"{base}/actions/{action_id}/acknowledge").status_code == 303
    cancel = desk.post(f"{base}/actions/{action_id}/cancel", reason="no")
    assert cancel.status_code == 403

    # every role holds these permissions (docs/permissions.md), so the console's own gates
    # are shown with a person holding none (roles cannot be empty through the API)
    with transaction(desk.client.app.state.sessions) as session:
        nobody = Person(name="No Role", roles=[])
        session.add(nobody)
        session.flush()
        _, raw = auth_service.create_key(
            session=session, data=KeyCreate(name="x", person_id=nobody.id), created_by=None
        )
    desk.as_("No Role", key=raw)
    gate = desk.client.post(
        f"{base}/attachments",
        data={"csrf_token": desk.csrf},
        files={"file": ("screen.png", PNG, "image/png")},
    )
    assert gate.status_code == 403
    assert "calls:note" in gate.text
    assert desk.client.get(f"{base}/attachments/1").status_code == 403
    assert desk.post(f"{base}/actions", title="x", assignee_id=erik, **due).status_code == 403


# -- in Chromium -------------------------------------------------------------------------------


@pytest.fixture
def berlin(browser: Browser) -> Iterator[BrowserContext]:
    """A browser context in Berlin's time zone, so local times and offsets are exercised."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, timezone_id="Europe/Berlin"
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


def _tab(context: BrowserContext) -> tuple[Page, list[str]]:
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    return tab, errors


def _start_call(page: Page, live: Live) -> str:
    page.goto(f"{live.url}/ui/calls")
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    made = page.request.post(
        f"{live.url}/ui/calls",
        form={
            "csrf_token": csrf,
            "asset_id": str(live.demo.assets["NV-CT-40811"]),
            "caller_name": "Sam Patel",
            "callback_number": "+44 20 7946 9999",
            "urgency": "degraded",
            "symptom": "table will not move into the bore",
        },
        max_redirects=0,
    )
    assert made.status == 303, made.text()
    call_id = made.headers["location"].split("/ui/calls/")[1].split("?")[0]
    page.goto(f"{live.url}/ui/calls/{call_id}")
    return call_id


def _file(name: str, mime: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": mime, "buffer": data}


def _local(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M")


def test_upload_shows_progress_then_lists_and_downloads(page: Page, live: Live) -> None:
    sign_in(page, live, "Dana Reyes")
    call_id = _start_call(page, live)
    log = ("2031-01-10 10:00:01 ERR E-4711 tube arc detected\n" * 17_000).encode()
    panel = page.locator("#panel-attachments")
    panel.get_by_text("Attach a file").click()
    page.set_input_files(
        "#attach-file", {"name": "scanner.log", "mimeType": "text/plain", "buffer": log}
    )
    page.fill("#attach-description", "console log after the arc")
    with page.expect_response(f"**/ui/calls/{call_id}/attachments") as answer:
        panel.get_by_role("button", name="Upload").click()
    assert answer.value.status == 200
    progress = page.locator("#upload-progress")
    expect(progress).to_be_visible()
    expect(progress).to_have_attribute("data-state", "done")
    expect(progress).to_contain_text("Uploaded scanner.log (100%).")
    expect(progress.locator("progress")).to_have_attribute("value", "100")
    assert int(progress.get_attribute("data-progress-events") or 0) >= 1
    expect(page.locator("#panel-attachments-status")).to_have_text("File attached.")
    link = panel.get_by_role("link", name="scanner.log")
    expect(link).to_be_visible()
    expect(panel).to_contain_text("console log after the arc")
    expect(panel).to_contain_text("Dana Reyes")
    expect(page.locator("#timeline")).to_contain_text("Attached scanner.log")

    got = page.request.get(live.url + (link.get_attribute("href") or ""))
    assert got.status == 200
    assert got.body() == log
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.headers["content-disposition"].startswith('attachment; filename="scanner.log"')
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == "sandbox; default-src 'none'"


def test_refused_file_is_said_in_words_next_to_the_form(page: Page, live: Live) -> None:
    sign_in(page, live, "Dana Reyes")
    _start_call(page, live)
    panel = page.locator("#panel-attachments")
    panel.get_by_text("Attach a file").click()
    page.set_input_files(
        "#attach-file", {"name": "tool.png", "mimeType": "image/png", "buffer": EXE}
    )
    panel.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-progress")).to_have_attribute("data-state", "refused")
    expect(panel.get_by_test_id("attachments-alert")).to_have_text("The file was not attached.")
    expect(page.locator("#attach-error, #attach-file-error")).to_contain_text(
        "This type of file is not accepted"
    )
    expect(page.locator("#attach-file")).to_be_focused()
    expect(panel).to_contain_text("No files attached.")

    settings = live.app.state.settings
    live.app.state.settings = settings.model_copy(update={"max_attachment_bytes": 1000})
    page.set_input_files(
        "#attach-file", {"name": "big.txt", "mimeType": "text/plain", "buffer": b"x" * 5000}
    )
    panel.get_by_role("button", name="Upload").click()
    expect(page.locator("#attach-file-error")).to_have_text(
        "The file is too large: a file may be at most 1 KB."
    )


def test_assign_an_action_and_the_assignee_works_it(
    berlin: BrowserContext, browser: Browser, live: Live
) -> None:
    page, errors = _tab(berlin)
    sign_in(page, live, "Dana Reyes")
    call_id = _start_call(page, live)
    panel = page.locator("#panel-actions")
    panel.get_by_text("Assign an action").click()
    expect(page.locator("#assign-assignee option:checked")).to_contain_text("Dana Reyes")
    due = (datetime.now(BERLIN) + timedelta(days=2)).replace(hour=10, minute=30)
    page.fill("#assign-title", "Order HV cable HV-CBL-2200")
    page.select_option("#assign-assignee", label="Erik Lindqvist (engineer)")
    page.fill("#assign-due", _local(due))
    offset = due.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    expect(page.locator("#assign-due-tz")).to_have_value(offset)
    page.fill("#assign-details", "Part number from the tube log")
    panel.get_by_role("button", name="Assign").click()
    expect(page.locator("#panel-actions-status")).to_have_text("Action assigned.")
    item = panel.locator("li", has_text="Order HV cable")
    expect(item.get_by_test_id("action-owner")).to_have_text("Erik Lindqvist")
    expect(item.get_by_test_id("action-state")).to_have_text("open")
    expect(item).to_contain_text(f"{_local(due).replace('T', ' ')} (UTC{offset})")
    expect(item.get_by_test_id("action-due")).to_have_text(re.compile(r"due in (1|2) d"))
    expect(item.get_by_role("button", name=re.compile("Acknowledge"))).to_have_count(0)

    # overdue in words, not colour alone
    panel.get_by_text("Assign an action").click()
    page.fill("#assign-title", "Call the site back")
    page.fill("#assign-due", _local(datetime.now(BERLIN) - timedelta(hours=3)))
    panel.get_by_role("button", name="Assign").click()
    late = panel.locator("li", has_text="Call the site back")
    expect(late).to_contain_text("Overdue")
    expect(late.get_by_test_id("action-due")).to_have_text(
        re.compile(r"overdue by (2 h 5\d min|3 h)")
    )

    # the assignee, in a browser of their own
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        tab, other_errors = _tab(other)
        sign_in(tab, live, "Erik Lindqvist")
        tab.goto(f"{live.url}/ui/calls/{call_id}")
        mine = tab.locator("#panel-actions li", has_text="Order HV cable")
        mine.get_by_role("button", name=re.compile("Acknowledge")).click()
        expect(mine.get_by_test_id("action-state")).to_have_text("acknowledged")
        expect(mine).to_be_focused()
        mine.get_by_label("Outcome").fill("Ordered, arrives Thursday")
        mine.get_by_role("button", name=re.compile("Complete")).click()
        expect(mine.get_by_test_id("action-state")).to_have_text("done")
        expect(mine).to_contain_text("Outcome: Ordered, arrives Thursday")
        expect(tab.locator("#timeline")).to_contain_text("Action")
        assert not other_errors
    finally:
        other.close()
    page.reload()
    expect(
        panel.locator("li", has_text="Order HV cable").get_by_test_id("action-state")
    ).to_have_text("done")
    assert not errors


def test_schedule_a_callback_and_record_it_made(berlin: BrowserContext, live: Live) -> None:
    page, errors = _tab(berlin)
    sign_in(page, live, "Dana Reyes")
    _start_call(page, live)
    panel = page.locator("#panel-contacts")
    panel.get_by_text("Schedule a callback").click()
    expect(page.locator("#schedule-owner option:checked")).to_contain_text("Farid Haddad")
    expect(page.locator("#schedule-number")).to_have_value("+44 20 7946 9999")
    page.fill("#schedule-when", _local(datetime.now(BERLIN) + timedelta(minutes=40)))
    page.fill("#schedule-notes", "Tell them the part is ordered")
    panel.get_by_role("button", name="Schedule callback").click()
    expect(page.locator("#panel-contacts-status")).to_have_text("Callback scheduled.")
    entry = panel.locator("li", has_text="Tell them the part is ordered")
    expect(entry.get_by_test_id("contact-status")).to_have_text("scheduled")
    expect(entry.get_by_test_id("contact-owner")).to_have_text("Farid Haddad")
    expect(entry).to_contain_text("Due soon")
    expect(entry.get_by_test_id("contact-due")).to_have_text(re.compile(r"due in 3\d min"))
    expect(entry).to_contain_text("+44 20 7946 9999 · Sam Patel")

    entry.get_by_text("Record this callback as made").click()
    entry.get_by_label("How it went").select_option("reached")
    entry.get_by_label("What was said").fill("Customer happy")
    entry.get_by_role("button", name="Record as made").click()
    expect(page.locator("#panel-contacts-status")).to_have_text("Callback recorded as made.")
    expect(entry.get_by_test_id("contact-status")).to_have_text("made: Reached")
    expect(entry).to_contain_text("Customer happy")
    expect(entry).not_to_contain_text("Due soon")

    panel.get_by_text("Log a call made now").click()
    panel.get_by_label("No answer").check()
    panel.get_by_role("button", name="Log the call").click()
    expect(panel.get_by_test_id("contact-status").last).to_have_text("made: No answer")
    expect(page.locator("#timeline")).to_contain_text("Called the customer")
    assert not errors
