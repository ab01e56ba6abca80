"""The library in a real headless Chromium: search, filters, collections, remix."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from generations.models import Generation, Image
from library.models import Collection
from tests.browser import assert_page_fits, log_in, open_menu
from tests.library.factories import make_image, make_team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def library(alice):
    make_image(alice, prompt="a red fox in the snow", model="flux-pro", aspect_ratio="16:9", with_files=True)
    make_image(alice, prompt="a blue whale at sea", model="flux-1.1-pro", aspect_ratio="1:1", with_files=True)
    make_image(
        alice, prompt="a red barn in autumn", model="flux-1.1-pro", aspect_ratio="3:2", with_files=True
    )


def tile_prompts(page) -> list[str]:
    return sorted(page.get_by_test_id("tile-prompt").all_inner_texts())


def test_search_and_filters_combine_and_stay_in_the_url(page, live_server, alice, library):
    log_in(page, live_server, "alice")
    page.click("nav >> text=My images")
    expect(page.get_by_test_id("tile")).to_have_count(3)

    page.fill("#id_q", "red")
    page.click("button:has-text('Search')")
    expect(page.get_by_test_id("tile")).to_have_count(2)
    assert tile_prompts(page) == ["a red barn in autumn", "a red fox in the snow"]

    page.select_option("#id_model", "flux-1.1-pro")
    page.click("button:has-text('Search')")
    expect(page.get_by_test_id("tile")).to_have_count(1)
    assert tile_prompts(page) == ["a red barn in autumn"]
    assert "q=red" in page.url and "model=flux-1.1-pro" in page.url

    page.goto(page.url)  # a shared link reproduces the search
    expect(page.get_by_test_id("tile")).to_have_count(1)
    expect(page.locator("#id_q")).to_have_value("red")

    page.get_by_test_id("clear-filters").click()
    expect(page.get_by_test_id("tile")).to_have_count(3)


def test_favourite_then_filter_favourites(page, live_server, alice, library):
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/library/")
    whale = page.get_by_test_id("tile").filter(has_text="blue whale")
    whale.get_by_test_id("favourite").click()
    expect(whale.get_by_test_id("favourite")).to_have_attribute("aria-pressed", "true")
    page.check("#id_favourite")
    page.click("button:has-text('Search')")
    expect(page.get_by_test_id("tile")).to_have_count(1)
    assert tile_prompts(page) == ["a blue whale at sea"]


def test_bulk_add_to_a_collection(page, live_server, alice, library):
    Collection.objects.create(name="Red things", created_by=alice)
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/library/?q=red")
    expect(page.get_by_test_id("tile")).to_have_count(2)
    page.check("#select-all")
    expect(page.get_by_test_id("selected-count")).to_have_text("2 selected")
    page.get_by_test_id("bulk-collection").select_option(label="Red things")
    page.click("button:has-text('Add to collection')")
    expect(page.locator(".flash")).to_contain_text("Added 2 images to “Red things”")

    page.click("nav >> text=Collections")
    page.get_by_test_id("board").filter(has_text="Red things").click()
    expect(page.get_by_test_id("tile")).to_have_count(2)
    assert tile_prompts(page) == ["a red barn in autumn", "a red fox in the snow"]
    expect(page.locator(".board img, .tile img").first).to_be_visible()


def test_remix_opens_the_form_prefilled_and_generates(page, live_server, alice, library, celery_worker):
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/library/?q=whale")
    page.get_by_test_id("tile").first.locator("a.tile-link").click()  # opens the viewer
    page.get_by_test_id("lightbox-link").click()  # then the image's page
    expect(page.get_by_test_id("prompt")).to_have_text("a blue whale at sea")
    page.get_by_test_id("remix-same").click()
    expect(page.locator("#id_prompt")).to_have_value("a blue whale at sea")
    expect(page.locator("#id_model")).to_have_value("flux-1.1-pro")
    expect(page.locator("#id_aspect_ratio")).to_have_value("1:1")
    expect(page.locator("#id_seed")).to_have_value("42")
    page.fill("#id_prompt", "a blue whale at sea, watercolour")
    page.click("button:has-text('Generate')")
    expect(page.locator("article.card").first.get_by_test_id("status")).to_have_text("Done", timeout=30_000)
    remix = Generation.objects.get(prompt="a blue whale at sea, watercolour")
    assert (remix.model, remix.aspect_ratio, remix.seed) == ("flux-1.1-pro", "1:1", 42)


def switch_to(page, team_name: str) -> None:
    open_menu(page)  # the switcher is in the header's menu, folded on phones
    page.get_by_test_id("team-switcher").select_option(label=team_name)
    expect(page.get_by_test_id("active-role")).to_be_attached()  # the page reloads with the menu folded


def test_a_viewer_is_offered_only_what_a_viewer_may_do(page, live_server, alice, bob):
    team = make_team(alice, name="Studio", viewer=bob)
    image = make_image(alice, team=team, prompt="a lighthouse in the studio", with_files=True)
    Collection.objects.create(name="Lights", team=team, created_by=alice).images.add(image)
    page.set_viewport_size({"width": 390, "height": 900})
    log_in(page, live_server, "bob")
    expect(page.locator("#id_prompt")).to_be_visible()  # personal space: bob generates on his own
    switch_to(page, "Studio")

    refusal = page.get_by_test_id("generate-refusal")
    expect(refusal).to_have_text(
        "You are a viewer in Studio: viewers cannot generate there. Ask an admin of Studio to make you a "
        "member, or switch to Personal to generate on your own."
    )
    expect(page.locator("#id_prompt")).to_have_count(0)
    assert_page_fits(page)

    page.goto(f"{live_server.url}/library/team/")
    expect(page.get_by_test_id("tile")).to_have_count(1)
    expect(page.get_by_test_id("bulk-delete")).to_have_count(0)
    expect(page.get_by_test_id("bulk-collection")).to_have_count(0)
    expect(page.locator("#bulk-form button[value=zip]")).to_be_visible()  # viewers download
    assert_page_fits(page)

    # A click opens the viewer; its link is what leads to the image page.
    page.goto(live_server.url + page.locator("a.tile-link").first.get_attribute("href"))
    expect(page.get_by_test_id("prompt")).to_have_text("a lighthouse in the studio")
    expect(page.get_by_test_id("in-collections")).to_have_text("In collections: Lights")
    for control in ("remix-same", "remix-new", "delete", "tags-input", "add-to-collection"):
        expect(page.get_by_test_id(control)).to_have_count(0)
    expect(page.get_by_test_id("remix-refusal")).to_contain_text("No remix: You are a viewer in Studio")
    assert_page_fits(page)
    page.get_by_test_id("favourite").click()  # a viewer may favourite
    expect(page.get_by_test_id("favourite")).to_have_attribute("aria-pressed", "true")

    # By keyboard: back to the gallery, and "Switch to Personal" brings the form back.
    page.goto(f"{live_server.url}/")
    page.get_by_test_id("switch-to-personal").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#id_prompt")).to_be_visible()
    expect(page.get_by_test_id("generate-refusal")).to_have_count(0)


def test_a_member_cannot_send_a_delete_that_includes_someone_elses_image(page, live_server, alice, bob):
    team = make_team(alice, name="Studio", member=bob)
    make_image(alice, team=team, prompt="alice's lighthouse")
    mine = make_image(bob, team=team, prompt="bob's harbour")
    log_in(page, live_server, "bob")
    switch_to(page, "Studio")
    page.goto(f"{live_server.url}/library/team/")
    delete = page.get_by_test_id("bulk-delete")
    rule = page.get_by_test_id("delete-rule")
    expect(rule).to_have_text("You may delete only your own images here; an admin of Studio may delete any.")

    page.check("#select-all")
    expect(delete).to_be_disabled()
    expect(rule).to_have_class("help error")
    page.get_by_test_id("tile").filter(has_text="alice's lighthouse").locator("input[name=images]").uncheck()
    expect(delete).to_be_enabled()
    expect(rule).to_have_class("help")
    page.once("dialog", lambda dialog: dialog.accept())
    delete.click()
    expect(page.locator(".flash")).to_have_text("Deleted 1 image.")
    assert not Image.objects.filter(id=mine.id).exists()
    assert Image.objects.filter(generation__prompt="alice's lighthouse").exists()
