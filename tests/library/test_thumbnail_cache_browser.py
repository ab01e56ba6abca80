"""Thumbnails in a real Chromium: signed URLs the browser keeps, so a revisit asks the server for none."""

from __future__ import annotations

import copy
import logging
import uuid

import pytest
from playwright.sync_api import expect

from tests.library.factories import make_image, store_thumbnails
from tests.library.test_library_browser import log_in
from tests.s3 import ACCESS_KEY, REGION, SECRET_KEY, moto_s3_server, s3_client, storage_from_env

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


@pytest.fixture
def s3_bucket(settings):
    """A private bucket on moto's S3 server; the site stores there and its pages may show images from it."""
    with moto_s3_server() as endpoint:
        name = f"pixelgallery-{uuid.uuid4().hex[:12]}"
        s3_client(endpoint).create_bucket(Bucket=name)
        env = {
            "AWS_STORAGE_BUCKET_NAME": name,
            "AWS_S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_S3_ADDRESSING_STYLE": "path",
        }
        settings.STORAGES = {**settings.STORAGES, "default": storage_from_env(env)}
        policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
        policy["DIRECTIVES"]["img-src"].append(endpoint)  # as settings.py does for AWS_S3_ENDPOINT_URL
        settings.CONTENT_SECURITY_POLICY = policy
        yield f"{endpoint}/{name}/"


def test_on_s3_the_bucket_serves_the_tiles_and_a_revisit_asks_nobody(
    page, live_server, alice, caplog, s3_bucket
):
    caplog.set_level(logging.INFO, logger="pixelgallery.request")
    caplog.set_level(logging.INFO, logger="werkzeug")  # moto's server logs each request it answers
    for color in ("red", "green", "blue"):
        store_thumbnails(make_image(alice, prompt=f"a {color} square"), color=color)
    log_in(page, live_server, "alice")

    def bucket_hits() -> list[str]:
        return [
            record.getMessage()
            for record in caplog.records
            if record.name == "werkzeug"
            and "GET /" in record.getMessage()
            and "/thumbnails/" in record.getMessage()
        ]

    page.goto(f"{live_server.url}/library/")
    tiles = page.locator("[data-testid=tile] img")
    expect(tiles).to_have_count(3)
    for index in range(3):
        shown = tiles.nth(index).evaluate(
            "img => img.decode().then(() => [img.naturalWidth, img.currentSrc])"
        )
        assert shown[0] > 0 and shown[1].startswith(s3_bucket + "thumbnails/"), shown
    assert len(bucket_hits()) == 3  # straight from the bucket: no Django request for any tile
    assert thumbnail_hits(caplog) == []

    caplog.clear()
    page.goto(f"{live_server.url}/teams/")
    page.goto(f"{live_server.url}/library/")
    expect(tiles).to_have_count(3)
    for index in range(3):
        assert tiles.nth(index).evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    page.reload()
    expect(tiles).to_have_count(3)
    assert tiles.first.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0

    assert bucket_hits() == []
    assert not [r for r in caplog.records if "/thumbnail" in getattr(r, "path", "")]
