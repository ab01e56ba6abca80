"""A share link in a real Chromium: a member makes it on the image page, a fresh browser context without any
cookie opens it and sees the image; once revoked, the same address is the site's 404 page."""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import expect

from library.models import ShareLink
from tests.browser import log_in
from tests.library.factories import make_image, make_team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROMPT = "a paper boat on a rain puddle"


def test_a_member_shares_an_image_a_stranger_opens_it_and_revocation_closes_it(
    page, browser, live_server, alice, bob
):
    team = make_team(alice, member=bob)
    image = make_image(bob, team=team, prompt=PROMPT, with_files=True)
    page.on("dialog", lambda dialog: dialog.accept())  # "Revoke this share link?"
    detail = f"/images/{image.code}/"
    log_in(page, live_server, "bob", next_path=detail)
    page.select_option("#share_expires", "1")
    page.get_by_test_id("share-create").click()
    shown = page.get_by_test_id("share-url")
    expect(shown).to_be_visible()
    url = shown.input_value()
    assert url.startswith(f"{live_server.url}/s/")

    stranger = browser.new_context(viewport={"width": 390, "height": 844})  # no cookies: not logged in
    try:
        visit = stranger.new_page()
        response = visit.goto(url)
        assert response.status == 200 and response.headers["cache-control"] == "private, no-store"
        shared = visit.get_by_test_id("shared-image")
        expect(shared).to_be_visible()
        visit.wait_for_function("() => document.querySelector('[data-testid=shared-image]').naturalWidth > 0")
        assert visit.evaluate("() => document.querySelector('[data-testid=shared-image]').naturalWidth") == 32
        assert PROMPT not in visit.content()  # not chosen: not shown
        assert settings.SESSION_COOKIE_NAME not in {cookie["name"] for cookie in stranger.cookies()}

        page.goto(live_server.url + detail)
        expect(page.get_by_test_id("share-views")).to_have_text("1")
        page.get_by_test_id("share-revoke").click()
        expect(page.get_by_test_id("share-status")).to_have_text("revoked")
        assert ShareLink.objects.get().revoked_at is not None

        response = visit.reload()
        assert response.status == 404 and response.headers["cache-control"] == "private, no-store"
        expect(visit.get_by_test_id("error-404")).to_be_visible()
        expect(visit.get_by_test_id("shared-image")).to_have_count(0)
    finally:
        stranger.close()
