"""The header's "N credits spent" keeps up with finished images in a real Chromium, without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.generations.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_credits_badge_updates_as_images_finish_without_a_reload(page, live_server, celery_worker, alice):
    log_in(page, live_server, "alice")
    badge = page.get_by_test_id("credits-total")
    expect(badge).to_have_text("0 credits spent")

    page.fill("#id_prompt", "a kite over the dunes")
    page.select_option("#id_num_outputs", "3")
    page.click("button:has-text('Generate')")
    expect(page.locator(".flash")).to_contain_text("Queued")
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    expect(page.locator("article.card").first.get_by_test_id("status")).to_have_text("Done", timeout=30_000)
    expect(badge).to_have_text("3 credits spent")
    assert page.evaluate("window.__sameDocument === true")
