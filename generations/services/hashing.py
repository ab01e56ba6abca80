"""Perceptual hashes for images stored before they were computed on storing (``backfill_image_hashes``)."""

from __future__ import annotations

import io

from django.core.files.storage import default_storage
from django.db.models import QuerySet
from PIL import Image as PILImage

from generations.imaging import ALLOWED_FORMATS, THUMBNAIL_SIDE, InvalidImage, verify_image
from generations.models import Image
from generations.similarity import band_fields, perceptual_hash


def images_missing_hash() -> QuerySet[Image]:
    """Stored images without a perceptual hash (stored before hashes were kept)."""
    return Image.objects.filter(status=Image.Status.STORED, phash__isnull=True).exclude(file="")


def image_hash_from_storage(image: Image) -> int:
    """The perceptual hash of a stored image, read from its larger thumbnail (what storing hashes), or,
    without one, from its original decoded the bounded way ``verify_image`` does.

    Raises ``FileNotFoundError``/``OSError`` when neither file can be read and ``InvalidImage`` when the
    original cannot be decoded.
    """
    if image.thumbnail.name:
        try:
            with default_storage.open(image.thumbnail.name, "rb") as stored:
                data = stored.read()
            with PILImage.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as picture:
                if max(picture.size) <= THUMBNAIL_SIDE:  # ours; anything larger is decoded the safe way
                    return perceptual_hash(picture.convert("RGB"))
        except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError):
            pass  # a missing or unreadable thumbnail: the original decides
    with default_storage.open(image.file.name, "rb") as stored:
        phash = verify_image(stored.read()).phash
    if phash is None:
        raise InvalidImage("The stored original gave no hash.")
    return phash


def image_hash_backfill(*, image: Image) -> bool:
    """Compute and keep the hash of one stored image that has none; ``False`` if it got one meanwhile."""
    phash = image_hash_from_storage(image)
    return bool(Image.objects.filter(id=image.id, phash__isnull=True).update(**band_fields(phash)))
