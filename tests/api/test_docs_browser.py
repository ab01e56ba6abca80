"""The interactive API docs work in Chromium under the site's Content Security Policy (no CDN, no inline
script: Ninja's bundled Swagger UI, served as static files)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.project.test_csp_browser import RECORD_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_render_every_operation_without_a_csp_violation(page, live_server):
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto(f"{live_server.url}/api/v1/docs")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("PixelGallery API", timeout=15_000)
    expect(page.locator(".opblock")).to_have_count(16)
    page.locator(".opblock-summary", has_text="/api/v1/generations").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    assert page.evaluate("window.__csp || []") == []
