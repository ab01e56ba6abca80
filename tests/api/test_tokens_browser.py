"""The tokens page in Chromium: reached from the menu, a token made and shown once, revoked; it fits a
phone and passes axe in the created state too (the every-page test sees the list, not a new token)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from api.models import ApiToken
from tests.library.factories import make_team
from tests.project.test_every_page_browser import HEIGHT, PHONE, blocking_violations, overflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_and_revoke_a_token_on_a_phone(browser, live_server, alice):
    make_team(alice, name="Studio")
    client = Client()
    client.force_login(alice)
    context = browser.new_context(viewport={"width": PHONE, "height": HEIGHT})
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.get_by_label("Name").fill("nightly batch")
    page.get_by_label("Acts in").select_option(label="Studio")
    page.get_by_label("Generate (submit prompts, spends credits)").check()
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("token-secret").input_value()
    assert secret.startswith("pgt_")
    token = ApiToken.objects.get()
    assert token.team.name == "Studio" and token.scope_list == ["generate", "read"]
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert overflow(page) is None
        assert blocking_violations(page) == []
    page.get_by_role("button", name="Revoke the token nightly batch").click()
    expect(page.get_by_test_id("token-list")).to_contain_text("revoked")
    assert secret not in page.content()
    token.refresh_from_db()
    assert token.revoked_at is not None
    context.close()
