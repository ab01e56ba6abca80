"""The main flow in a real headless Chromium: log in, submit a prompt, watch the stored image appear."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from generations.models import Generation, Image
from tests.conftest import PASSWORD
from tests.library.factories import make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h2", has_text="Recent generations")).to_be_visible()


def test_prompt_to_stored_image_in_the_gallery(page, live_server, celery_worker, alice):
    log_in(page, live_server, "alice")
    expect(page.locator(".banner.sandbox")).to_contain_text("Sandbox mode")
    expect(page.get_by_test_id("credits-total")).to_have_text("0 credits spent")

    page.fill("#id_prompt", "a lighthouse on a cliff at dawn")
    page.select_option("#id_aspect_ratio", "1:1")
    page.select_option("#id_num_outputs", "2")
    page.click("button:has-text('Generate')")

    expect(page.locator(".flash")).to_contain_text("Queued")
    card = page.locator("article.card").first
    # The card updates live (no reload) from queued through saving to done, with both thumbnails.
    expect(card.get_by_test_id("status")).to_have_text("Done", timeout=30_000)
    thumbnails = card.get_by_test_id("stored-thumbnail")
    expect(thumbnails).to_have_count(2)
    assert thumbnails.first.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0

    page.reload()
    expect(page.get_by_test_id("credits-total")).to_have_text("2 credits spent")

    card = page.locator("article.card").first
    card.locator("a.thumbs").click()  # with scripts, the thumbnail opens the viewer over the gallery
    expect(page.get_by_test_id("lightbox")).to_be_visible()
    page.keyboard.press("Escape")
    page.goto(live_server.url + card.locator("a.thumbs").get_attribute("href"))  # where the link leads
    expect(page.locator("h1.prompt-title")).to_have_text("a lighthouse on a cliff at dawn")
    full = page.get_by_test_id("full-image").first
    expect(full).to_be_visible()
    assert (
        full.evaluate("img => img.decode().then(() => img.naturalWidth)")
        == Image.objects.filter(status="stored").first().width
    )
    with page.expect_download() as download_info:
        page.get_by_test_id("download").first.click()
    assert download_info.value.suggested_filename.endswith("-1.png")
    assert Generation.objects.get().status == Generation.Status.DONE


def test_form_errors_appear_beside_the_field(page, live_server, alice):
    log_in(page, live_server, "alice")
    make_image(alice, prompt="an earlier fox")
    page.reload()
    gallery_url = page.url
    page.fill("#id_prompt", "   ")
    page.click("button:has-text('Generate')")
    expect(page.locator("[data-field=prompt] .error")).to_contain_text("required")
    # The same page comes back: its address, heading and recent generations.
    assert page.url == gallery_url
    expect(page.locator("h1")).to_have_text("Generate")
    expect(page.get_by_test_id("card-prompt")).to_have_text("an earlier fox")
    page.fill("#id_prompt", "a fox")
    page.locator("details.advanced").evaluate("d => d.open = true")
    page.fill("#id_lora_weights", "https://example.com/lora.safetensors")
    page.click("button:has-text('Generate')")
    expect(page.locator("[data-field=lora_weights] .error")).to_contain_text("flux-dev-single-lora")
    assert list(Generation.objects.values_list("prompt", flat=True)) == ["an earlier fox"]


def test_a_long_prompt_never_widens_a_page_and_the_counter_counts(page, live_server, alice):
    image = make_image(alice, prompt="x" * 2000, with_files=True)
    log_in(page, live_server, "alice")
    page.fill("#id_prompt", "a fox in the snow")
    expect(page.get_by_test_id("prompt-counter")).to_have_text("17 / 2,000 characters")
    page.fill("#id_prompt", "y" * 1234)
    expect(page.get_by_test_id("prompt-counter")).to_have_text("1,234 / 2,000 characters")
    urls = [
        reverse("gallery"),
        reverse("my_images"),
        reverse("generation_detail", args=[image.generation.code]),
        reverse("image_detail", args=[image.code]),
    ]
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        for url in urls:
            page.goto(f"{live_server.url}{url}")
            overflow = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert overflow[0] <= overflow[1], (width, url, overflow)
    # The detail page shows the whole prompt; the card clamps it and keeps it whole for hover.
    expect(page.get_by_test_id("prompt")).to_have_text("x" * 2000)
    page.goto(f"{live_server.url}/")
    card_prompt = page.get_by_test_id("card-prompt")
    expect(card_prompt).to_have_attribute("title", "x" * 2000)
    assert card_prompt.evaluate("p => p.scrollHeight > p.clientHeight")  # clamped
