"""Launching Debian's Chromium through Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    """The system Chromium, or ``None`` when it is not installed."""
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


def open_menu(page) -> None:
    """At phone width the header's navigation sits behind its Menu button: open it."""
    toggle = page.locator("[data-menu-toggle]")
    if toggle.count() and toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


def log_in(page, live_server, username: str, *, next_path: str = "/") -> None:
    """Log ``username`` in through the login form (the test password) and land on ``next_path``."""
    from playwright.sync_api import expect

    from tests.conftest import PASSWORD

    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}{next_path}")


def assert_page_fits(page) -> None:
    """No horizontal scroll on the page, header included."""
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], (page.url, widths)
