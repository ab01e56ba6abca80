"""Thumbnails in a real Chromium: signed URLs the browser keeps, so a revisit asks the server for none."""

from __future__ import annotations

import logging

import pytest
from playwright.sync_api import expect

from tests.library.factories import make_image, store_thumbnails
from tests.library.test_library_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def thumbnail_hits(caplog) -> list[str]:
    """Signed thumbnail requests the server answered (its access log: one line per request)."""
    return [
        record.path
        for record in caplog.records
        if record.name == "pixelgallery.request" and getattr(record, "path", "").startswith("/t/")
    ]


def all_tiles_shown(page, count: int) -> None:
    tiles = page.locator("[data-testid=tile] img")
    expect(tiles).to_have_count(count)
    for index in range(count):
        shown = tiles.nth(index).evaluate(
            "img => img.decode().then(() => [img.naturalWidth, img.currentSrc])"
        )
        assert shown[0] > 0 and "/t/" in shown[1], shown


def test_a_revisit_makes_no_thumbnail_request(page, live_server, alice, caplog):
    caplog.set_level(logging.INFO, logger="pixelgallery.request")
    for color in ("red", "green", "blue", "orange"):
        store_thumbnails(make_image(alice, prompt=f"a {color} square"), color=color)
    log_in(page, live_server, "alice")

    page.goto(f"{live_server.url}/library/")
    all_tiles_shown(page, 4)
    first_visit = thumbnail_hits(caplog)
    assert len(first_visit) == 4, first_visit  # one size per tile, fetched once

    caplog.clear()
    page.goto(f"{live_server.url}/teams/")  # elsewhere, then back: a second visit
    page.goto(f"{live_server.url}/library/")
    all_tiles_shown(page, 4)
    page.reload()  # and a reload: immutable, so not even revalidated
    all_tiles_shown(page, 4)

    assert thumbnail_hits(caplog) == []
    assert any(record.path == "/library/" for record in caplog.records if hasattr(record, "path"))
