"""Under the Content Security Policy every page still works in Chromium, and nothing is blocked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} on ${location.pathname}`);
});
"""


def test_main_pages_run_under_the_csp_without_a_single_violation(page, live_server, celery_worker, alice):
    page.add_init_script(RECORD_VIOLATIONS)
    violations: list[str] = []

    def collect() -> None:
        violations.extend(page.evaluate("window.__csp || []"))

    response = page.goto(f"{live_server.url}/accounts/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h2", has_text="Recent generations")).to_be_visible()

    page.fill("#id_prompt", "a lighthouse on a cliff at dawn")
    page.click("button:has-text('Generate')")
    card = page.locator("article.card").first
    expect(card.get_by_test_id("status")).to_have_text("Done", timeout=30_000)  # live updates: scripts run
    expect(card.get_by_test_id("stored-thumbnail")).to_have_count(1)
    collect()

    card.locator("a.thumbs").click()  # the image viewer runs under the policy too
    picture = page.get_by_test_id("lightbox-image")
    assert picture.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    page.get_by_test_id("lightbox-link").click()
    expect(page.get_by_test_id("full-image").first).to_be_visible()
    collect()

    links = page.locator("nav.nav a").evaluate_all("links => links.map(a => a.href)")
    assert len(links) >= 3
    for href in links:
        answer = page.goto(href)
        assert answer.ok, href
        collect()
    assert violations == []
