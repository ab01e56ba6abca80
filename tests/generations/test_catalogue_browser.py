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
