"""Reuse before you pay, in a real headless Chromium: a generation with a fixed seed is made by real workers
and the sandbox; asking for it again offers the stored images and the price instead of queuing, and
"Generate again" queues a new one."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from credits.models import LedgerEntry, Reuse
from generations.models import Generation
from tests.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def submit(page, prompt: str) -> None:
    page.fill("#id_prompt", prompt)
    page.select_option("#id_aspect_ratio", "1:1")
    page.select_option("#id_num_outputs", "2")
    advanced = page.locator("details.advanced")
    if advanced.get_attribute("open") is None:
        advanced.locator("summary").click()
    page.fill("#id_seed", "4242")
    page.locator("form.generate-form button.primary", has_text="Generate").click()


def test_asking_again_for_stored_images_offers_them_and_generate_again_queues_a_new_one(
    page, live_server, celery_worker, sandbox, alice
):
    log_in(page, live_server, "alice", next_path="/")
    submit(page, "A lighthouse on a cliff at dawn")
    expect(page.locator(".flash").first).to_contain_text("Queued")
    card = page.locator("article.card").first
    expect(card.get_by_test_id("stored-thumbnail")).to_have_count(2, timeout=30_000)
    expect(card.get_by_test_id("status")).to_have_text("Done")
    first = Generation.objects.get()
    assert first.status == "done" and first.seed == 4242 and first.fingerprint
    charged = sum(entry.credits for entry in LedgerEntry.objects.all())
    assert charged == 2

    # The same request, typed differently: offered, not queued.
    submit(page, "a LIGHTHOUSE  on a cliff at dawn ")
    offer = page.get_by_test_id("reuse-offer")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("You already have this — open it, or generate again for 2 credits")
    link = offer.get_by_test_id("reuse-link")
    expect(link).to_have_attribute("href", reverse("generation_detail", args=[first.code]))
    expect(offer.get_by_test_id("reuse-image-link")).to_have_attribute(
        "href", reverse("image_detail", args=[first.images.get(index=0).code])
    )
    expect(page.locator("#id_prompt")).to_have_value("a LIGHTHOUSE  on a cliff at dawn ")  # values kept
    expect(page.locator("#id_seed")).to_have_value("4242")
    assert Generation.objects.count() == 1
    assert sum(entry.credits for entry in LedgerEntry.objects.all()) == charged

    offer.get_by_test_id("reuse-generate-again").click()
    expect(page.locator(".flash").first).to_contain_text("Queued")
    assert Generation.objects.count() == 2
    second = Generation.objects.exclude(pk=first.pk).get()
    assert second.fingerprint == first.fingerprint and second.price == 2
    expect(page.locator(f"#gen-{second.code}").get_by_test_id("stored-thumbnail")).to_have_count(
        2, timeout=30_000
    )
    assert not Reuse.objects.exists()
