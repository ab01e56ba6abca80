"""Compare models in a real headless Chromium: tick *Compare models*, choose three models, see each one's
price and the total before submitting, then watch the comparison page's columns fill in live (real worker,
the sandbox over HTTP), each labelled with its model and cost."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from generations import services
from generations.models import Comparison
from tests.browser import assert_page_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compare_three_models_and_watch_the_grid_fill_in(
    page, live_server, celery_worker, sandbox, alice, settings
):
    settings.PIXELDOJO_JOB_POLL_SECONDS = 0.2
    settings.PIXELDOJO_JOB_POLL_MAX_SECONDS = 1.0
    sandbox.configure(latency_seconds=3.0)  # PixelDojo takes its time: the page opens before the images
    assert services.catalogue_refresh().ok
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    log_in(page, live_server, "alice", next_path="/generate/")

    choices = page.get_by_test_id("compare-models")
    price = page.get_by_test_id("price")
    expect(choices).to_be_hidden()
    page.check("#id_compare")
    expect(choices).to_be_visible()
    expect(page.locator("#id_model")).to_be_hidden()  # the models are chosen below instead
    expect(price).to_have_text("Price: Compare: choose 2 to 4 models")
    choices.get_by_label("FLUX Pro · 1 credit").check()
    expect(price).to_have_text("Price: Compare: choose 2 to 4 models")
    choices.get_by_label("FLUX 1.1 Pro Ultra · 1.5 credits").check()
    expect(price).to_have_text("Price: Compare 2 models: 1 + 1.5 = 2.5 credits")
    choices.get_by_label("Flux Dev · 1 credit").check()
    expect(price).to_have_text("Price: Compare 3 models: 1 + 1.5 + 1 = 3.5 credits")
    page.select_option("#id_num_outputs", "2")
    expect(price).to_have_text("Price: Compare 3 models: 2 + 3 + 2 = 7 credits")
    page.select_option("#id_num_outputs", "1")
    expect(price).to_have_text("Price: Compare 3 models: 1 + 1.5 + 1 = 3.5 credits")
    page.set_viewport_size({"width": 390, "height": 844})
    assert_page_fits(page)  # the models' checkboxes wrap on a phone
    page.set_viewport_size({"width": 1280, "height": 900})
    page.fill("#id_prompt", "a lighthouse in a storm")
    page.click("button:has-text('Generate')")

    expect(page).to_have_url(re.compile(r"/compare/[0-9a-f-]{36}/$"))
    expect(page.locator(".flash").first).to_contain_text("Queued")
    columns = page.get_by_test_id("comparison-column")
    expect(columns).to_have_count(3)
    expect(columns.get_by_test_id("column-model")).to_have_text(
        ["FLUX Pro", "FLUX 1.1 Pro Ultra", "Flux Dev"]
    )
    expect(columns.get_by_test_id("column-cost")).to_have_text(["1 credit", "1.5 credits", "1 credit"])
    expect(columns.first.get_by_test_id("status")).not_to_have_text("Done")  # still working when it opened
    for index in range(3):
        column = columns.nth(index)
        expect(column.get_by_test_id("stored-thumbnail")).to_have_count(1, timeout=30_000)  # filled in live
        expect(column.get_by_test_id("status")).to_have_text("Done")

    comparison = Comparison.objects.get()
    assert page.url.endswith(f"/compare/{comparison.code}/")
    assert [g.status for g in comparison.generations.order_by("id")] == ["done", "done", "done"]
    page.set_viewport_size({"width": 390, "height": 844})
    assert_page_fits(page)
    assert errors == []
