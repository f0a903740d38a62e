"""Debian's Chromium driven by Playwright: shared by the browser tests and the
screenshot job (no browser is downloaded; the machine's own Chromium is used)."""

from __future__ import annotations

import os

from playwright.sync_api import Page

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# headless on a closed network: no first-run, sync, update or background connections
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def sign_in(page: Page, url: str, key: str) -> None:
    """Sign in to the console at `url` through its form."""
    page.goto(f"{url}/ui/login")
    page.fill("#api_key", key)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("header.top .who")
