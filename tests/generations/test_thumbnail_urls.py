"""Signed thumbnail URLs on local storage: what pages hand out, what a URL opens, for whom, for how long."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generations import thumbnails
from generations.imaging import verify_image
from generations.models import Image
from teams.models import Membership
from tests.library.factories import logged_in, make_image, make_team, png_bytes, store_thumbnails

pytestmark = pytest.mark.django_db

CACHE_FOREVER = "private, max-age=31536000, immutable"


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append({name: value or "" for name, value in attrs})


def page_images(html: str) -> list[dict[str, str]]:
    parser = _Images()
    parser.feed(html)
    return parser.images


def srcset_urls(srcset: str) -> dict[str, str]:
    """``{"320w": url, "640w": url}`` from a srcset."""
    return {part.split()[1]: part.split()[0] for part in srcset.split(", ")}


def test_library_tile_has_signed_srcset_of_two_webp_sizes_lazy_with_its_dimensions(client, alice):
    image = store_thumbnails(make_image(alice))

    response = logged_in(client, alice).get(reverse("my_images"))

    (tile,) = [img for img in page_images(response.content.decode()) if "srcset" in img]
    assert tile["loading"] == "lazy"
    assert (tile["width"], tile["height"]) == ("900", "600")  # the image's shape: nothing shifts
    assert tile["sizes"].startswith("auto, ")
    sources = srcset_urls(tile["srcset"])
    assert sorted(sources) == ["320w", "640w"]
    assert tile["src"] == sources["640w"]
    anyone = Client()  # the URL is the authorisation: no session needed
    for width, key in (("320w", image.thumbnail_small.name), ("640w", image.thumbnail.name)):
        fetched = anyone.get(sources[width])
        assert fetched.status_code == 200
        assert fetched["Content-Type"] == "image/webp"
        assert fetched["Cache-Control"] == CACHE_FOREVER
        with default_storage.open(key, "rb") as stored:
            assert b"".join(fetched.streaming_content) == stored.read()


def test_gallery_cards_and_collection_covers_use_the_signed_urls(client, alice):
    from library.models import Collection

    image = store_thumbnails(make_image(alice))
    Collection.objects.create(name="Board", created_by=alice, cover=image)
    logged_in(client, alice)
    expected = thumbnails.thumbnail_sources(Image.objects.get(id=image.id))

    for url in (reverse("gallery"), reverse("collections")):
        imgs = page_images(client.get(url).content.decode())
        assert [(img["src"], img["srcset"]) for img in imgs if img.get("srcset")] == [
            (expected.src, expected.srcset)
        ], url


def test_the_signed_url_costs_no_query_and_never_touches_the_session(alice):
    image = store_thumbnails(make_image(alice))
    url = thumbnails.thumbnail_url(image.thumbnail.name)
    client = logged_in(Client(), alice)  # a session cookie is sent, and must not be read

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        b"".join(response.streaming_content)

    assert response.status_code == 200
    assert ctx.captured_queries == []
    assert "Cookie" not in response.get("Vary", "")  # the session was never accessed
    assert not response.cookies


def test_a_signature_opens_only_its_own_key(alice):
    first = store_thumbnails(make_image(alice), color="red")
    second = store_thumbnails(make_image(alice), color="blue")
    url = thumbnails.thumbnail_url(first.thumbnail.name)
    anyone = Client()

    other_key = url.replace(first.thumbnail.name, second.thumbnail.name)
    tampered = re.sub(r"^/t/(.)", lambda m: "/t/" + ("A" if m.group(1) != "A" else "B"), url)
    later = re.sub(r"/(\d+)/", lambda m: f"/{int(m.group(1)) + 86_400}/", url, count=1)
    original = url.replace(
        first.thumbnail.name, first.file.name
    )  # a signed thumbnail never opens an original

    assert anyone.get(url).status_code == 200
    for forged in (other_key, tampered, later, original):
        response = anyone.get(forged)
        assert response.status_code == 403, forged
        assert 'data-testid="error-403"' in response.content.decode()  # the site's page, with why
        assert b"RIFF" not in response.content


def test_an_expired_url_is_refused(alice):
    image = store_thumbnails(make_image(alice))
    three_days_ago = time.time() - 3 * 86_400
    url = thumbnails.thumbnail_url(image.thumbnail.name, now=three_days_ago)

    response = Client().get(url)

    assert response.status_code == 403
    assert "expired" in response.content.decode()


def test_urls_stay_the_same_all_day_and_expire_at_the_end_of_the_next_utc_day(alice):
    key = store_thumbnails(make_image(alice)).thumbnail.name
    morning = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC).timestamp()
    evening = datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC).timestamp()
    next_day = datetime(2026, 12, 2, 0, 0, 0, tzinfo=UTC).timestamp()

    assert thumbnails.thumbnail_url(key, now=morning) == thumbnails.thumbnail_url(key, now=evening)
    assert thumbnails.thumbnail_url(key, now=next_day) != thumbnails.thumbnail_url(key, now=evening)
    start, expiry = thumbnails.url_window(evening)
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 12, 1, tzinfo=UTC)
    assert datetime.fromtimestamp(expiry, UTC) == datetime(2026, 12, 3, tzinfo=UTC)
    sign = thumbnails.signature(key, expiry)
    assert thumbnails.signature_is_valid(key, expiry, sign, now=expiry - 1)
    assert not thumbnails.signature_is_valid(key, expiry, sign, now=expiry)


def test_the_window_is_a_setting(settings, alice):
    settings.THUMBNAIL_URL_WINDOW_SECONDS = 3600
    noon = datetime(2026, 12, 1, 12, 30, tzinfo=UTC).timestamp()
    start, expiry = thumbnails.url_window(noon)
    assert (start, expiry) == (noon - 1800, noon + 5400)  # 12:00, and the end of the 13:00 hour


def test_shortening_the_window_shortens_urls_already_handed_out(settings, alice):
    image = store_thumbnails(make_image(alice))
    url = thumbnails.thumbnail_url(image.thumbnail.name)  # a one-day window: valid 24 to 48 h
    assert Client().get(url).status_code == 200

    settings.THUMBNAIL_URL_WINDOW_SECONDS = 3600

    assert Client().get(url).status_code == 403  # more than two hours away: refused
    assert Client().get(thumbnails.thumbnail_url(image.thumbnail.name)).status_code == 200


def test_a_removed_member_gets_no_new_url_and_the_held_one_lapses_at_its_expiry(client, alice, bob):
    team = make_team(alice, member=bob)
    image = store_thumbnails(make_image(alice, team=team))
    logged_in(client, bob, team)
    (tile,) = [
        img for img in page_images(client.get(reverse("team_library")).content.decode()) if img["srcset"]
    ]
    held = tile["src"]

    Membership.objects.filter(team=team, user=bob).delete()

    assert Client().get(held).status_code == 200  # a bearer URL: valid until its expiry (at most 48 h)
    assert client.get(reverse("image_detail", args=[image.code])).status_code == 404
    assert client.get(reverse("image_thumbnail", args=[image.code])).status_code == 404
    expiry = int(held.split("/")[3])
    assert expiry <= time.time() + 2 * 86_400
    sign = held.split("/")[2]
    assert not thumbnails.signature_is_valid(image.thumbnail.name, expiry, sign, now=expiry)


def test_a_rotated_secret_key_keeps_urls_working_until_they_expire(settings, alice):
    image = store_thumbnails(make_image(alice))
    url = thumbnails.thumbnail_url(image.thumbnail.name)

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-for-this-test-0123456789"
    assert Client().get(url).status_code == 200
    settings.SECRET_KEY_FALLBACKS = []
    assert Client().get(url).status_code == 403


def test_an_image_stored_with_one_thumbnail_falls_back_to_it(client, alice):
    image = make_image(alice)
    name = default_storage.save(
        f"thumbnails/{image.code}.webp", ContentFile(verify_image(png_bytes()).thumbnail)
    )
    Image.objects.filter(id=image.id).update(thumbnail=name)

    (tile,) = [
        img
        for img in page_images(logged_in(client, alice).get(reverse("my_images")).content.decode())
        if "/t/" in img.get("src", "")
    ]

    assert "srcset" not in tile
    assert (tile["width"], tile["height"]) == ("32", "24")
    assert Client().get(tile["src"]).status_code == 200


def test_signed_thumbnails_add_no_query_to_a_library_page(client, alice):
    team = make_team(alice)
    logged_in(client, alice, team)

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    names = {"thumbnail": "thumbnails/x-640.webp", "thumbnail_small": "thumbnails/x-320.webp"}
    Image.objects.filter(id=make_image(alice, team=team).id).update(**names)
    client.get(reverse("team_library"))  # fills the page's caches (header figures, collections)
    one = queries(reverse("team_library"))
    for n in range(47):
        Image.objects.filter(id=make_image(alice, team=team, prompt=f"image {n}").id).update(**names)
    html = client.get(reverse("team_library")).content.decode()
    assert html.count('srcset="/t/') == 48
    assert queries(reverse("team_library")) == one


def test_a_missing_file_is_a_404_page_and_bad_keys_never_a_500(alice):
    anyone = Client()
    url = thumbnails.thumbnail_url("thumbnails/gone-640.webp")
    assert anyone.get(url).status_code == 404
    escape = "thumbnails/../../etc/passwd"
    _, expiry = thumbnails.url_window()
    sign = thumbnails.signature(escape, expiry)
    response = anyone.get(f"/t/{sign}/{expiry}/{escape}")
    assert response.status_code in (400, 404)
    assert anyone.get("/t/x/notanumber/thumbnails/a.webp").status_code == 404
    assert anyone.post(url).status_code == 405


def test_the_window_setting_is_one_day_by_default_and_bounded():
    from tests.project.test_security import settings_with

    assert settings_with()["THUMBNAIL_URL_WINDOW_SECONDS"] == 86_400
    assert settings_with(THUMBNAIL_URL_WINDOW_SECONDS="3600")["THUMBNAIL_URL_WINDOW_SECONDS"] == 3600
    for bad in ("0", "302401"):  # S3 presigned URLs live 7 days at most: two windows must fit
        with pytest.raises(ValueError, match="THUMBNAIL_URL_WINDOW_SECONDS must be from 60 to 302400"):
            settings_with(THUMBNAIL_URL_WINDOW_SECONDS=bad)
