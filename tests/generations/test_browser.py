"""The main flow in a real headless Chromium: log in, submit a prompt, watch the stored image appear."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from generations.models import Generation, Image
from tests.conftest import PASSWORD

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
    card.locator("a.thumbs").click()
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
    page.fill("#id_prompt", "   ")
    page.click("button:has-text('Generate')")
    expect(page.locator("[data-field=prompt] .error")).to_contain_text("required")
    page.fill("#id_prompt", "a fox")
    page.locator("details.advanced").evaluate("d => d.open = true")
    page.fill("#id_lora_weights", "https://example.com/lora.safetensors")
    page.click("button:has-text('Generate')")
    expect(page.locator("[data-field=lora_weights] .error")).to_contain_text("flux-dev-single-lora")
    assert not Generation.objects.exists()
