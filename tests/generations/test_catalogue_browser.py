"""The catalogue's models on the generate form in a real headless Chromium: each model shows its own
parameters (from its requestSchema), the price follows the resolution, bad values come back in the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from generations import services
from generations.models import Generation
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TIMES = "\N{MULTIPLICATION SIGN}"


def test_a_catalogue_model_shows_its_parameters_and_its_price_by_resolution(
    page, live_server, sandbox, alice
):
    assert services.catalogue_refresh().ok
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_server.url}/accounts/login/?next=/generate/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    price = page.get_by_test_id("price")
    expect(price).to_have_text(f"Price: 1 {TIMES} 1 = 1 credit")
    flex = page.get_by_test_id("parameters-flux-2-flex")
    expect(flex).to_be_hidden()

    page.select_option("#id_model", "flux-2-flex")
    expect(flex).to_be_visible()
    expect(page.locator("#id_aspect_ratio")).to_be_hidden()  # the /flux fields are not this model's
    expect(price).to_have_text(f"Price: 1 {TIMES} 1.5 = 1.5 credits")  # the schema's default: 1 MP
    page.select_option("#id_p-flux-2-flex-resolution", "4 MP")
    page.fill("#id_p-flux-2-flex-num_outputs", "2")
    expect(price).to_have_text(f"Price: 2 {TIMES} 5 = 10 credits")
    page.select_option("#id_p-flux-2-flex-resolution", "0.5 MP")
    expect(price).to_have_text(f"Price: 2 {TIMES} 1 = 2 credits")

    page.select_option("#id_model", "seedream-4")
    expect(flex).to_be_hidden()
    page.select_option("#id_p-seedream-4-megapixels", "4")
    expect(price).to_have_text(f"Price: 1 {TIMES} 2 = 2 credits")
    page.fill("#id_prompt", "a fox in the snow")
    page.fill("#id_p-seedream-4-style", "Oil Paint!")
    page.click("button:has-text('Generate')")
    expect(page.locator(".form-errors").first).to_contain_text("Some of Seedream 4's parameters need fixing")
    expect(page.get_by_test_id("parameters-seedream-4")).to_contain_text("does not match '^[a-z-]*$'")
    expect(page.locator("#id_p-seedream-4-megapixels")).to_have_value("4")  # what was sent, kept
    expect(price).to_have_text(f"Price: 1 {TIMES} 2 = 2 credits")

    page.select_option("#id_model", "flux-pro")
    expect(page.locator("#id_aspect_ratio")).to_be_visible()
    expect(price).to_have_text(f"Price: 1 {TIMES} 1 = 1 credit")
    assert Generation.objects.count() == 0
    assert errors == []


def test_a_catalogue_model_picked_in_the_browser_is_made_stored_and_charged_its_catalogue_cost(
    page, live_server, celery_worker, sandbox, alice, settings
):
    """Flux 2 Flex: an enum (resolution) and a bounded integer (safety tolerance 1 to 6) on the form, the
    price shown before submitting, then a job through the sandbox and real workers; the card fills in."""
    settings.PIXELDOJO_JOB_POLL_SECONDS = 0.2
    settings.PIXELDOJO_JOB_POLL_MAX_SECONDS = 1.0
    assert services.catalogue_refresh().ok
    page.goto(f"{live_server.url}/accounts/login/?next=/generate/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    page.select_option("#id_model", "flux-2-flex")
    tolerance = page.locator("#id_p-flux-2-flex-safety_tolerance")
    expect(tolerance).to_have_attribute("min", "1")
    expect(tolerance).to_have_attribute("max", "6")
    page.select_option("#id_p-flux-2-flex-resolution", "2 MP")
    tolerance.fill("3")
    page.fill("#id_p-flux-2-flex-num_outputs", "2")
    expect(page.get_by_test_id("price")).to_have_text(f"Price: 2 {TIMES} 3 = 6 credits")
    page.fill("#id_prompt", "a lighthouse in a storm")
    page.click("button:has-text('Generate')")

    expect(page.locator(".flash").first).to_contain_text("Queued")
    card = page.locator("article.card").first
    expect(card.get_by_test_id("stored-thumbnail")).to_have_count(2, timeout=30_000)  # filled in live
    expect(card.get_by_test_id("status")).to_have_text("Done")
    expect(page.get_by_test_id("credits-total")).to_have_text("6 credits spent")

    generation = Generation.objects.get()
    assert (generation.model, generation.status, generation.price) == ("flux-2-flex", "done", 6)
    assert generation.job_input["safety_tolerance"] == 3 and generation.job_input["resolution"] == "2 MP"
    assert [image.status for image in generation.images.all()] == ["stored", "stored"]
    assert sum(entry.credits for entry in generation.ledger_entries.all()) == 6
    assert sandbox.stats()["run_requests"] == 1
