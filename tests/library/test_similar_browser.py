"""Similar images in a real headless Chromium: the image page's strip and the library's collapse switch."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser import log_in
from tests.library.factories import make_image, make_team
from tests.library.test_library_browser import switch_to
from tests.library.test_similar import sandbox_picture, store_picture
from tests.project.test_every_page_browser import blocking_violations, overflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_image_page_shows_the_similar_strip_and_the_library_collapses_them(page, live_server, alice):
    team = make_team(alice)
    lighthouse = store_picture(
        make_image(alice, team=team, prompt="a lighthouse at dawn", days_ago=1),
        sandbox_picture("a lighthouse at dawn"),
    )
    foxes = [
        store_picture(
            make_image(alice, team=team, prompt=f"a red fox in snow, take {n}", days_ago=n / 10),
            sandbox_picture("a red fox in snow", n),
        )
        for n in (1, 2, 3)
    ]
    log_in(page, live_server, "alice")
    switch_to(page, "Studio")  # through the header's team switcher

    page.goto(f"{live_server.url}{reverse('image_detail', args=[foxes[0].code])}")
    strip = page.get_by_test_id("similar")
    expect(strip.get_by_role("heading")).to_have_text("Visually similar in this team")
    shown = strip.get_by_test_id("similar-image")
    expect(shown).to_have_count(2)
    codes = {shown.nth(i).get_attribute("data-code") for i in range(2)}
    assert codes == {str(foxes[1].code), str(foxes[2].code)}
    expect(shown.first.get_by_test_id("similar-distance")).to_contain_text("apart")
    assert shown.first.locator("img").evaluate("img => img.decode().then(() => img.naturalWidth)") > 0

    shown.first.locator("a").click()  # on to a near-duplicate, whose strip leads back
    expect(page.get_by_test_id("similar").locator(f"[data-code='{foxes[0].code}']")).to_be_visible()
    page.goto(f"{live_server.url}{reverse('image_detail', args=[lighthouse.code])}")
    expect(page.get_by_test_id("no-similar")).to_be_visible()

    page.goto(f"{live_server.url}{reverse('team_library')}")
    expect(page.get_by_test_id("tile")).to_have_count(4)
    page.get_by_test_id("collapse-on").click()
    expect(page.get_by_test_id("tile")).to_have_count(2)  # the three foxes as one, the lighthouse
    badge = page.get_by_test_id("similar-count")
    expect(badge).to_have_text("+2 similar")
    expect(page).to_have_url(f"{live_server.url}{reverse('team_library')}?collapse=1")
    page.get_by_test_id("collapse-off").click()
    expect(page.get_by_test_id("tile")).to_have_count(4)

    # Both fit a phone and pass axe-core (serious and critical rules) in light and dark.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (reverse("image_detail", args=[foxes[0].code]), f"{reverse('team_library')}?collapse=1"):
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.goto(f"{live_server.url}{path}")
            assert overflow(page) is None, (path, scheme)
            assert blocking_violations(page) == [], (path, scheme)
