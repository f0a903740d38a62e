"""The desk's dashboard (/ui/dashboard) in Chromium, over the known desk of the reports'
tests (tests/reports/test_reports.py): charts drawn by the vendored Chart.js, every figure
in a table too, the period chosen in the form, nothing fetched from another host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from app.auth import service as auth_service
from app.config import Settings
from app.db import transaction
from app.main import create_app
from embeddings.encoder import Encoder
from scripts.browser import sign_in
from scripts.context import serve_in_thread
from tests.calls.conftest import make_desk
from tests.reports.test_reports import TOTAL, Built, build
from tests.web.test_security_headers import WATCH, violations

KNOWN = "?from=2024-01-29&to=2024-03-03"  # the known desk's five weeks, to= included


class LiveClient(httpx.Client):
    """The API of a served app, with the app at hand as a TestClient has it (`build`
    sets the calls' times in its database)."""

    app: Any


@dataclass
class Served:
    """The app on a real port with the known desk of the reports' tests on it."""

    url: str
    built: Built


@pytest.fixture(scope="module")
def served(encoder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One app for the module (its tests only read): no scheduler, so nothing stamps a
    missed target while the calls' times are set."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("dashboard"),
        index_save_delay=0,
        index_write_wait_seconds=60,
        webhook_worker=False,
        scheduler=False,
    )
    app = create_app(settings, encoder=encoder)
    with serve_in_thread(app) as url:
        with transaction(app.state.sessions) as session:
            key = auth_service.bootstrap_admin(session=session, name="Admin", only_if_empty=False)
        assert key
        with LiveClient(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
            client.app = app
            built = build(make_desk(client))  # type: ignore[arg-type]
        yield Served(url, built)


def _figure(page: Page, key: str) -> Any:
    return page.get_by_test_id(f"figure-{key}").locator("td").first


def _rows(page: Page, table: str) -> list[list[str]]:
    """The body of a table, cell by cell."""
    cells: list[list[str]] = (
        page.get_by_test_id(table)
        .locator("tbody tr")
        .evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))")
    )
    return cells


def _chart(page: Page, canvas: str) -> dict[str, Any]:
    """What Chart.js holds for a canvas, and whether anything was painted on it."""
    page.wait_for_selector(f"#{canvas}[data-drawn=true]")
    found: dict[str, Any] = page.evaluate(
        """id => {
          const canvas = document.getElementById(id);
          const chart = window.Chart && Chart.getChart(canvas);
          const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
          let painted = 0;
          for (let i = 3; i < pixels.data.length; i += 4) if (pixels.data[i]) painted++;
          return {
            type: chart ? chart.config.type : null,
            labels: chart ? chart.data.labels : null,
            data: chart ? chart.data.datasets.map(d => d.data) : null,
            painted: painted,
            width: canvas.width,
          };
        }""",
        canvas,
    )
    return found


def test_dashboard_draws_the_known_desk_and_regroups_by_period(page: Page, served: Served) -> None:
    requests: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    def note(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page.on("console", note)
    page.add_init_script(WATCH)
    sign_in(page, served.url, served.built.desk.engineer)

    # from the navigation: the last 30 days, today included, per day; none of the known calls
    page.locator("header.top nav").get_by_role("link", name="Dashboard").click()
    expect(page.locator("h1")).to_have_text("Dashboard")
    today = datetime.now(UTC).date()
    expect(page.locator("#from")).to_have_value(str(today - timedelta(days=29)))
    expect(page.locator("#to")).to_have_value(str(today))
    expect(page.locator("#period")).to_have_value("day")
    expect(page.get_by_test_id("no-calls")).to_have_text("No calls in this range.")
    expect(page.locator("canvas")).to_have_count(0)

    # the known desk's five weeks, chosen with the keyboard: the URL can be shared
    page.fill("#from", "2024-01-29")
    page.fill("#to", "2024-03-03")
    page.select_option("#period", "week")
    page.locator("#to").press("Enter")
    page.wait_for_url(re.compile(r".*/ui/dashboard\?from=2024-01-29&to=2024-03-03&period=week$"))
    shown = {
        "calls_opened": "7",
        "tier1_resolution_rate": "80%",
        "first_contact_resolution_rate": "40%",
        "escalation_rate": "28.6%",
        "kcs_link_rate": "40%",
        "response_target_met_rate": "50%",
        "resolution_target_met_rate": "57.1%",
        "median_minutes_to_resolve": "1 h",
        "median_minutes_to_escalate": "45 min",
    }
    for key, value in shown.items():
        expect(_figure(page, key), key).to_have_text(value)
    # the counts behind a rate are shown with it
    basis = f"{TOTAL['resolved_tier1']} of {TOTAL['calls_resolved']} resolved calls, at tier 1"
    expect(page.get_by_test_id("figure-tier1_resolution_rate")).to_contain_text(basis)
    assert _rows(page, "trend") == [
        ["Mon 29 Jan 2024", "3", "3", "66.7%"],
        ["Mon 5 Feb 2024", "2", "1", "100%"],
        ["Mon 12 Feb 2024", "0", "0", "none"],
        ["Mon 19 Feb 2024", "0", "0", "none"],
        ["Mon 26 Feb 2024", "2", "1", "100%"],
    ]
    # c3 of the five CT calls was escalated, c4 of the two MR ones
    assert _rows(page, "modalities") == [
        ["CT", "5", "1", "20%"],
        ["MRI (MR)", "2", "1", "50%"],
    ]
    trend = _chart(page, "trend-chart")
    assert trend["type"] == "line"
    assert trend["labels"] == ["29 Jan", "5 Feb", "12 Feb", "19 Feb", "26 Feb"]
    assert trend["data"] == [[3, 2, 0, 0, 2], [66.7, 100, None, None, 100]]
    assert trend["painted"] > 0
    assert trend["width"] > 0
    bars = _chart(page, "modality-chart")
    assert (bars["type"], bars["labels"]) == ("bar", ["CT", "MRI (MR)"])
    assert bars["data"] == [[5, 2], [20, 50]]
    assert bars["painted"] > 0

    # the articles most shown: the one that fixed c1 was tried once and fixed once
    built = served.built
    articles = page.get_by_test_id("top-articles").locator("tbody tr")
    expect(articles).to_have_count(min(10, len(built.shown)))
    fixed_c1 = articles.filter(has=page.locator(f"a[href='/ui/articles/{built.a}']"))
    expect(fixed_c1.locator("td")).to_have_text([str(built.shown[built.a]), "1", "1", "100%"])
    expect(page.get_by_role("link", name=re.compile("^Knowledge gaps"))).to_have_attribute(
        "href", "/ui/gaps"
    )

    # per month instead: the grouping follows the form
    page.select_option("#period", "month")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r".*period=month$"))
    assert [row[:2] for row in _rows(page, "trend")] == [
        ["January 2024", "2"],
        ["February 2024", "3"],
        ["March 2024", "2"],
    ]
    assert _chart(page, "trend-chart")["labels"] == ["Jan 2024", "Feb 2024", "Mar 2024"]
    expect(_figure(page, "tier1_resolution_rate")).to_have_text("80%")

    # everything came from the service itself, within its policy, without an error
    assert requests
    outside = [u for u in requests if not u.startswith(served.url + "/")]
    assert outside == [], outside
    assert f"{served.url}/ui/static/vendor/chart.umd.min.js" in requests
    assert violations(page, []) == []
    assert console_errors == []


def test_without_script_the_tables_give_every_figure(browser: Browser, served: Served) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, served.url, served.built.desk.engineer)  # a plain form post
        page.goto(f"{served.url}/ui/dashboard{KNOWN}&period=week")
        expect(_figure(page, "escalation_rate")).to_have_text("28.6%")
        expect(page.get_by_test_id("trend").locator("tbody tr")).to_have_count(5)
        # no chart, and no blank space where it would be
        expect(page.locator("canvas[data-drawn]")).to_have_count(0)
        expect(page.locator(".chart-box").first).to_be_hidden()
    finally:
        context.close()


def test_a_dispatcher_is_refused(page: Page, served: Served) -> None:
    sign_in(page, served.url, served.built.desk.dispatcher)
    expect(page.locator("header.top nav").get_by_role("link", name="Dashboard")).to_have_count(0)
    response = page.goto(f"{served.url}/ui/dashboard{KNOWN}")
    assert response is not None
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator(".flash.error")).to_contain_text("reports:read")
    expect(page.locator("canvas")).to_have_count(0)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?from=2024-03-05&to=2024-03-01", "from", "must be on or before the last day"),
        ("?from=2023-01-01&to=2024-03-01", "from", "at most 400 days"),
        ("?from=29/01/2024", "from", "enter a date as YYYY-MM-DD"),
        ("?to=9999-12-31", "to", "must be from 1970-01-01 to 8999-12-31"),
        ("?period=year", "period", "choose day, week or month"),
    ],
)
def test_a_wrong_field_is_named_in_the_form(
    page: Page, served: Served, query: str, field: str, message: str
) -> None:
    sign_in(page, served.url, served.built.desk.engineer)
    response = page.goto(f"{served.url}/ui/dashboard{query}")
    assert response is not None
    assert response.status == 422
    expect(page.locator(f"#{field}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{field}-error")).to_contain_text(message)
    expect(page.get_by_test_id("error-summary")).to_contain_text(message)
    expect(page.locator("canvas")).to_have_count(0)


def test_the_vendored_chart_js_is_served_with_its_licence(served: Served) -> None:
    here = Path(__file__).resolve().parents[2] / "app" / "web" / "static" / "vendor"
    readme = (here / "README.md").read_text()
    version = re.search(r"Chart\.js (\d+\.\d+\.\d+)", readme)
    assert version, readme
    assert "MIT" in (here / "chart.js-LICENSE.md").read_text()
    with httpx.Client(base_url=served.url) as http:
        answer = http.get("/ui/static/vendor/chart.umd.min.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert f"Chart.js v{version[1]}" in answer.text[:200]
