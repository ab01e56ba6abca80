"""A remix's family tree in a real headless Chromium, made through the form by a real worker and sandbox."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from generations.models import Image
from tests.browser import log_in
from tests.library.factories import make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_remix_made_from_the_image_page_shows_its_parent_in_its_family(
    page, live_server, alice, celery_worker
):
    parent = make_image(alice, prompt="a calm harbour at dawn", seed=42, with_files=True)
    log_in(page, live_server, "alice")
    page.goto(live_server.url + reverse("image_detail", args=[parent.code]))
    page.get_by_test_id("remix-same").click()
    expect(page.locator("#id_prompt")).to_have_value("a calm harbour at dawn")
    page.fill("#id_prompt", "a stormy harbour at dawn")
    page.click("button:has-text('Generate')")
    card = page.locator("article.card").first
    expect(card.get_by_test_id("status")).to_have_text("Done", timeout=30_000)

    card.get_by_test_id("stored-thumbnail").first.click()  # the viewer, then the image's own page
    page.get_by_test_id("lightbox-link").click()
    expect(page.get_by_test_id("prompt")).to_have_text("a stormy harbour at dawn")
    ancestor = page.get_by_test_id("family-ancestor")
    expect(ancestor).to_have_count(1)
    expect(ancestor.locator(f'a[data-code="{parent.code}"]')).to_be_visible()
    expect(page.get_by_test_id("family-current")).to_contain_text("prompt +stormy \N{MINUS SIGN}calm")
    remix = Image.objects.get(generation__prompt="a stormy harbour at dawn")
    assert remix.generation.remixed_from_id == parent.id

    ancestor.locator("a").click()  # and from the parent, the remix below it
    expect(page.get_by_test_id("family-child")).to_contain_text("prompt +stormy")
    expect(page.get_by_test_id("family-child").locator(f'a[data-code="{remix.code}"]')).to_be_visible()
