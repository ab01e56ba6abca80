"""The image viewer in a real headless Chromium: the lightbox over library and gallery, and compare."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from playwright.sync_api import expect

from library.selectors import PAGE_SIZE
from tests.browser import log_in
from tests.library.factories import make_image, png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def make_stored(user, prompt: str, *, size: tuple[int, int] = (64, 48), color: str = "red", **kwargs):
    """An image with a real PNG original of ``size``."""
    image = make_image(user, prompt=prompt, with_files=True, **kwargs)
    default_storage.delete(image.file.name)
    image.file.name = default_storage.save(f"originals/{image.code}.png", ContentFile(png_bytes(color, size)))
    image.width, image.height = size
    image.save()
    return image


def tile_link(page, image):
    return page.locator(f"[data-testid=tile][data-code='{image.code}'] a.tile-link")


def card_link(page, generation):
    return page.locator(f"article.card[data-code='{generation.code}'] a.thumbs")


def test_library_lightbox_moves_with_arrows_and_gives_focus_back_on_escape(page, live_server, alice):
    # Newest first: the fox is the first tile, then the whale, then the barn.
    barn = make_stored(alice, "a red barn in autumn", model="flux-1.1-pro", days_ago=2)
    whale = make_stored(alice, "a blue whale at sea", model="flux-1.1-pro", days_ago=1, color="blue")
    fox = make_stored(alice, "a red fox in the snow", model="flux-pro")
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}{reverse('my_images')}")
    tiles = page.get_by_test_id("tile")
    expect(tiles).to_have_count(3)

    tiles.first.locator("a.tile-link").click()
    lightbox = page.get_by_test_id("lightbox")
    expect(lightbox).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}{reverse('my_images')}")  # no navigation: the viewer opened
    expect(lightbox.get_by_test_id("lightbox-prompt")).to_have_text("a red fox in the snow")
    expect(lightbox.get_by_test_id("lightbox-model")).to_have_text("FLUX Pro — standard high quality")
    expect(lightbox.get_by_test_id("lightbox-position")).to_have_text("Image 1 of 3")
    expect(lightbox.get_by_test_id("lightbox-link")).to_have_attribute(
        "href", reverse("image_detail", args=[fox.code])
    )
    picture = lightbox.get_by_test_id("lightbox-image")
    expect(picture).to_have_attribute("src", reverse("image_original", args=[fox.code]))
    assert picture.evaluate("img => img.decode().then(() => img.naturalWidth)") == 64  # the original

    page.keyboard.press("ArrowRight")
    expect(lightbox.get_by_test_id("lightbox-prompt")).to_have_text("a blue whale at sea")
    expect(picture).to_have_attribute("src", reverse("image_original", args=[whale.code]))
    expect(lightbox.get_by_test_id("lightbox-position")).to_have_text("Image 2 of 3")
    lightbox.get_by_test_id("lightbox-next").click()  # the on-screen button does the same
    expect(lightbox.get_by_test_id("lightbox-prompt")).to_have_text("a red barn in autumn")
    page.keyboard.press("ArrowRight")  # the last image: stays
    expect(lightbox.get_by_test_id("lightbox-position")).to_have_text("Image 3 of 3")
    expect(lightbox.get_by_test_id("lightbox-next")).to_have_attribute("aria-disabled", "true")
    page.keyboard.press("ArrowLeft")
    expect(lightbox.get_by_test_id("lightbox-prompt")).to_have_text("a blue whale at sea")
    # Tab cycles through the viewer's controls and never reaches the page behind the modal dialog (past
    # the last control, the browser's own interface may take focus: document.body here).
    reached = set()
    for _ in range(8):
        page.keyboard.press("Tab")
        where = page.evaluate(
            "(a => a === document.body ? 'browser' : a.closest('dialog') ? a.dataset.testid : 'page')"
            "(document.activeElement)"
        )
        assert where != "page"
        reached.add(where)
    assert {"lightbox-prev", "lightbox-next", "lightbox-close", "lightbox-link"} <= reached, reached

    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    expect(tile_link(page, fox)).to_be_focused()  # back on the tile that opened it

    # From the keyboard alone: Enter on a focused tile link opens it, the close button closes it.
    tile_link(page, barn).focus()
    page.keyboard.press("Enter")
    expect(lightbox.get_by_test_id("lightbox-prompt")).to_have_text("a red barn in autumn")
    lightbox.get_by_test_id("lightbox-close").click()
    expect(lightbox).to_be_hidden()
    expect(tile_link(page, barn)).to_be_focused()
    # The link to the image page works from the viewer.
    tiles.nth(1).locator("a.tile-link").click()
    lightbox.get_by_test_id("lightbox-link").click()
    expect(page).to_have_url(f"{live_server.url}{reverse('image_detail', args=[whale.code])}")


def test_library_lightbox_steps_onto_tiles_that_load_more_appends(page, live_server, alice):
    for n in range(PAGE_SIZE + 1):  # the oldest one is on the second page
        make_image(alice, prompt=f"tile {n:02d}", days_ago=n / 100, with_files=True)
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}{reverse('my_images')}")
    expect(page.get_by_test_id("tile")).to_have_count(PAGE_SIZE)
    page.get_by_test_id("tile").nth(PAGE_SIZE - 1).locator("a.tile-link").click()
    lightbox = page.get_by_test_id("lightbox")
    expect(lightbox.get_by_test_id("lightbox-prompt")).to_have_text(f"tile {PAGE_SIZE - 1}")
    page.keyboard.press("ArrowRight")
    expect(lightbox.get_by_test_id("lightbox-prompt")).to_have_text(f"tile {PAGE_SIZE}")
    expect(lightbox.get_by_test_id("lightbox-position")).to_have_text(
        f"Image {PAGE_SIZE + 1} of {PAGE_SIZE + 1}"
    )
    expect(page.get_by_test_id("tile")).to_have_count(PAGE_SIZE + 1)


def test_gallery_lightbox_walks_every_image_of_every_card(page, live_server, alice):
    make_stored(alice, "an older lighthouse", days_ago=1)
    newest = make_stored(alice, "a newer harbour", color="green")
    log_in(page, live_server, "alice")
    cards = page.locator("article.card")
    expect(cards).to_have_count(2)
    cards.first.get_by_test_id("stored-thumbnail").click()
    lightbox = page.get_by_test_id("lightbox")
    expect(lightbox.get_by_test_id("lightbox-prompt")).to_have_text("a newer harbour")
    expect(lightbox.get_by_test_id("lightbox-position")).to_have_text("Image 1 of 2")
    page.keyboard.press("ArrowRight")
    expect(lightbox.get_by_test_id("lightbox-prompt")).to_have_text("an older lighthouse")
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    expect(card_link(page, newest.generation)).to_be_focused()
    # Live status replaces a card with a fresh copy while it is open: focus goes to the fresh card's link.
    cards.first.get_by_test_id("stored-thumbnail").click()
    cards.first.evaluate("card => card.replaceWith(card.cloneNode(true))")
    page.keyboard.press("ArrowRight")
    expect(lightbox.get_by_test_id("lightbox-position")).to_have_text("Image 2 of 2")
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    expect(card_link(page, newest.generation)).to_be_focused()  # the fresh card's link
    # The generation's page is a grid of its own.
    page.goto(f"{live_server.url}{reverse('generation_detail', args=[newest.generation.code])}")
    page.get_by_test_id("full-image").click()
    expect(lightbox.get_by_test_id("lightbox-position")).to_have_text("Image 1 of 1")
    expect(lightbox.get_by_test_id("lightbox-image")).to_have_attribute(
        "src", reverse("image_original", args=[newest.code])
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_lightbox_fits_a_phone_screen(page, live_server, alice, scheme):
    make_stored(alice, "a wide panorama " * 30, size=(1600, 900))
    make_stored(alice, "a tall portrait", size=(600, 1400), days_ago=1)
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}{reverse('my_images')}")
    page.get_by_test_id("tile").first.locator("a.tile-link").click()
    lightbox = page.get_by_test_id("lightbox")
    for _ in range(2):
        picture = lightbox.get_by_test_id("lightbox-image")
        picture.evaluate("img => img.decode()")
        box = picture.bounding_box()
        assert box["width"] > 100 and box["height"] > 100, box
        assert box["x"] >= 0 and box["y"] >= 0, box
        assert box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844, box
        for button in ("lightbox-prev", "lightbox-next", "lightbox-close", "lightbox-link"):
            edge = lightbox.get_by_test_id(button).bounding_box()
            assert edge["x"] >= 0 and edge["x"] + edge["width"] <= 390, (button, edge)
            assert edge["y"] >= 0 and edge["y"] + edge["height"] <= 844, (button, edge)
        assert lightbox.evaluate("d => d.scrollWidth <= d.clientWidth && d.scrollHeight <= d.clientHeight")
        # Text stays readable on the viewer's own dark surface in either scheme.
        colours = lightbox.get_by_test_id("lightbox-prompt").evaluate(
            "p => [getComputedStyle(p).color, getComputedStyle(p.parentElement).backgroundColor]"
        )
        assert colours == ["rgb(238, 240, 251)", "rgb(22, 26, 46)"], colours
        page.keyboard.press("ArrowRight")
        expect(lightbox.get_by_test_id("lightbox-prompt")).to_have_text("a tall portrait")


def test_compare_two_selected_images_with_a_keyboard_slider(page, live_server, alice):
    make_stored(alice, "a red fox", model="flux-pro", seed=1)
    make_stored(alice, "a blue fox", model="flux-pro", seed=2, color="blue", days_ago=1)
    make_stored(alice, "not chosen", days_ago=2)
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}{reverse('my_images')}")
    page.get_by_test_id("tile").filter(has_text="a red fox").get_by_label("Select image").check()
    page.get_by_test_id("tile").filter(has_text="a blue fox").get_by_label("Select image").check()
    page.get_by_test_id("compare").click()

    expect(page.locator("h1")).to_have_text("Compare images")
    items = page.get_by_test_id("compare-item")
    expect(items).to_have_count(2)
    expect(items.first.get_by_test_id("compare-prompt")).to_contain_text("a red fox")
    expect(items.nth(1).get_by_test_id("compare-prompt")).to_contain_text("a blue fox")
    expect(items.first.get_by_test_id("differs")).to_have_text("1 (differs)")  # the seed, highlighted
    for n in range(2):
        assert items.nth(n).locator("img").evaluate("img => img.decode().then(() => img.naturalWidth)") == 64

    slider = page.locator("[data-compare-slider]")
    divider = page.locator(".compare-divider")
    frame = slider.bounding_box()

    def split() -> float:
        """Where the divider stands, as a share of the slider's width."""
        box = divider.bounding_box()
        return (box["x"] + box["width"] / 2 - frame["x"]) / frame["width"]

    assert abs(split() - 0.5) < 0.02
    page.get_by_test_id("compare-range").focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("compare-range")).to_have_attribute("aria-valuetext", "60% of image B")
    assert abs(split() - 0.6) < 0.02
    page.keyboard.press("Home")
    assert abs(split()) < 0.02
    page.keyboard.press("End")
    assert abs(split() - 1) < 0.02
    clip = page.get_by_test_id("compare-b").evaluate("img => getComputedStyle(img).clipPath")
    assert clip.startswith("inset(0px"), clip

    page.set_viewport_size({"width": 390, "height": 844})  # stacked on a phone, no sideways scroll
    boxes = [items.nth(n).bounding_box() for n in range(2)]
    assert boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"]
    assert page.evaluate("document.querySelector('main').scrollWidth") <= 390
