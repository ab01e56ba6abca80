"""``manage.py backfill_thumbnails``: images stored with one thumbnail get both sizes from their originals."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image as PILImage

from generations.imaging import verify_image
from generations.models import Image
from generations.thumbnails import thumbnail_sources
from tests.library.factories import make_image, png_bytes

pytestmark = pytest.mark.django_db


def stored_the_old_way(image: Image, *, size: tuple[int, int] = (1200, 800), original: bool = True) -> Image:
    """An image as stored before there were two thumbnails: its original and one 512-pixel WebP."""
    data = png_bytes("orange", size)
    base = f"{image.generation.code}/{image.code}"
    if original:
        default_storage.save(f"originals/{base}.png", ContentFile(data))
    thumbnail = default_storage.save(
        f"thumbnails/{base}.webp", ContentFile(verify_image(data, thumbnail_side=512).thumbnail)
    )
    Image.objects.filter(id=image.id).update(
        file=f"originals/{base}.png", thumbnail=thumbnail, width=size[0], height=size[1]
    )
    image.refresh_from_db()
    return image


def webp_size(name: str) -> tuple[int, int]:
    with default_storage.open(name, "rb") as stored, PILImage.open(io.BytesIO(stored.read())) as picture:
        assert picture.format == "WEBP"
        return picture.size


def run() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("backfill_thumbnails", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_backfill_makes_both_sizes_under_new_keys_and_removes_the_old_file(alice):
    old = stored_the_old_way(make_image(alice))
    old_name = old.thumbnail.name
    assert thumbnail_sources(old).srcset == ""  # one size until the backfill

    out, err = run()

    assert "Made both thumbnails of 1 image " in out and err == ""
    old.refresh_from_db()
    assert old.thumbnail.name.endswith("-640.webp") and old.thumbnail_small.name.endswith("-320.webp")
    assert webp_size(old.thumbnail.name) == (640, 427)
    assert webp_size(old.thumbnail_small.name) == (320, 213)
    assert not default_storage.exists(old_name)  # a new key: the old cached URL is never served other bytes
    assert [part.split()[1] for part in thumbnail_sources(old).srcset.split(", ")] == ["320w", "640w"]


def test_backfill_leaves_new_images_alone_and_reports_unreadable_originals(alice):
    missing = stored_the_old_way(make_image(alice), original=False)
    done = stored_the_old_way(make_image(alice))
    run()
    done.refresh_from_db()
    before = (done.thumbnail.name, done.thumbnail_small.name, done.updated_at)

    out, err = run()

    done.refresh_from_db()
    assert (done.thumbnail.name, done.thumbnail_small.name, done.updated_at) == before
    assert "Made both thumbnails of 0 images" in out and "1 could not be remade" in out
    assert f"image {missing.id}: its original could not be read" in err
    missing.refresh_from_db()
    assert missing.thumbnail_small.name == "" and default_storage.exists(missing.thumbnail.name)


def test_backfill_skips_images_that_are_not_stored(alice):
    make_image(alice, status="expired")
    out, _ = run()
    assert "Made both thumbnails of 0 images" in out
