"""The console served by a real uvicorn on 127.0.0.1, driven by Debian's Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from app.config import Settings
from app.db import transaction
from app.main import create_app
from embeddings.encoder import Encoder
from scripts.browser import CHROMIUM, CHROMIUM_ARGS
from scripts.browser import sign_in as sign_in_at
from scripts.context import serve_in_thread
from scripts.load_demo import Demo, load_demo


@dataclass
class Live:
    """A running console: its address and the demo people's keys."""

    url: str
    demo: Demo
    app: object


@pytest.fixture
def live(encoder: Encoder, seeded_template: Path, tmp_path: Path) -> Iterator[Live]:
    """The whole app (seed library, demo people and scanners) on a free local port."""
    data_dir = tmp_path / "live"
    shutil.copytree(seeded_template, data_dir)
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'helpdesk.db'}",
        index_save_delay=0,
        webhook_worker=False,
    )
    app = create_app(settings, encoder=encoder)
    with serve_in_thread(app) as url:
        with transaction(app.state.sessions) as session:
            demo = load_demo(session=session)
        yield Live(url=url, demo=demo, app=app)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium (Debian's package), one per test session."""
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (make test installs Debian's chromium)"
        if os.environ.get("REQUIRE_BROWSER"):
            raise pytest.UsageError(message)
        pytest.skip(message)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) at 1280x800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def sign_in(page: Page, live: Live, person: str) -> None:
    """Sign in through the form with the demo person's key."""
    sign_in_at(page, live.url, live.demo.keys[person])
