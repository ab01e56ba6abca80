"""Keeping our own copy of each image: download, verify, store with a thumbnail, settle the generation."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from generations import selectors
from generations.downloads import DownloadError, HostNotAllowed, ImageGone, fetch_image, retention_words
from generations.imaging import (
    SMALL_THUMBNAIL_SIDE,
    THUMBNAIL_SIDE,
    InvalidImage,
    VerifiedImage,
    verify_image,
)
from generations.models import Generation, Image
from generations.services.calling import retry_delay
from generations.services.hosts import image_host_notify_admins, waiting_message
from generations.similarity import band_fields
from pixelgallery import events

logger = logging.getLogger(__name__)

Status = Generation.Status
ImageStatus = Image.Status


def expired_message() -> str:
    """Why an image was never saved, with the retention the settings say now."""
    return f"PixelDojo deleted this image (its {retention_words()} link expired) before it could be saved."


def image_storage_names(image: Image, extension: str) -> tuple[str, str, str]:
    """Deterministic storage keys (original, thumbnail, small thumbnail), so a retry overwrites instead of
    adding files. A key names one image and size, whose bytes never change: a thumbnail made another way gets
    another key, so a URL may be cached as immutable."""
    base = f"{image.generation.code}/{image.code}"
    return (
        f"originals/{base}.{extension}",
        f"thumbnails/{base}-{THUMBNAIL_SIDE}.webp",
        f"thumbnails/{base}-{SMALL_THUMBNAIL_SIDE}.webp",
    )


def _save_exactly(name: str, data: bytes) -> None:
    """Store ``data`` under exactly ``name``, replacing what a previous attempt may have left there."""
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:  # a concurrent attempt won the name: keep one file per image.
        default_storage.delete(saved)


def image_is_past_retention(image: Image) -> bool:
    """PixelDojo has deleted its copy by now."""
    answered = image.generation.provider_created_at or image.created_at
    return timezone.now() - answered > timedelta(seconds=settings.PIXELDOJO_RETENTION_SECONDS)


def image_persist(*, image_id: int) -> float | None:
    """Download one pending image, verify it, store it with a thumbnail and mark it stored.

    Returns the seconds after which to try again (a transient failure), or ``None`` when the image reached a
    final state or needs nothing.
    """
    image = Image.objects.select_related("generation").filter(id=image_id).first()
    if image is None or image.status != ImageStatus.PENDING:
        return None
    if image_is_past_retention(image):
        image_mark(image_id=image_id, status=ImageStatus.EXPIRED, message=expired_message())
        return None
    attempts = image.attempts + 1
    Image.objects.filter(id=image_id).update(attempts=F("attempts") + 1, updated_at=timezone.now())
    try:
        data = fetch_image(
            image.provider_url,
            max_bytes=settings.PIXELDOJO_MAX_IMAGE_BYTES,
            extra_hosts=selectors.image_hosts_allowed(),
        )
        verified = verify_image(data)
    except HostNotAllowed as exc:  # nothing was fetched: it waits for an operator, never failed for this
        image_wait_for_host(image_id=image_id, host=exc.host)
        return None
    except ImageGone:
        image_mark(image_id=image_id, status=ImageStatus.EXPIRED, message=expired_message())
        return None
    except DownloadError as exc:  # a cut body is one of these, caught before any decoding
        if exc.retryable and attempts < settings.IMAGE_MAX_ATTEMPTS:
            Image.objects.filter(id=image_id).update(error_message=f"{exc} Trying again.")
            return retry_delay(exc, attempts)
        _expire_or_fail(image, exc)
        return None
    except InvalidImage as exc:  # the whole file arrived, unusable: fetching the same bytes again won't help
        logger.warning("image %s refused: %s (%s)", image.code, exc, exc.detail or "no detail")
        image_mark(image_id=image_id, status=ImageStatus.FAILED, message=invalid_image_message(exc))
        return None
    _store(image, verified)
    generation_settle(generation_id=image.generation_id)
    return None


def invalid_image_message(exc: InvalidImage) -> str:
    """Why a file that arrived whole was not kept: "<what is wrong with it>; it was not stored."."""
    return f"{str(exc).removesuffix('.')}; it was not stored."


def _store(image: Image, verified: VerifiedImage) -> None:
    original_name, thumbnail_name, small_name = image_storage_names(image, verified.extension)
    _save_exactly(original_name, verified.data)
    _save_exactly(thumbnail_name, verified.thumbnail)
    _save_exactly(small_name, verified.thumbnail_small)
    stored = Image.objects.filter(id=image.id, status=ImageStatus.PENDING).update(
        status=ImageStatus.STORED,
        file=original_name,
        thumbnail=thumbnail_name,
        thumbnail_small=small_name,
        content_type=verified.content_type,
        width=verified.width,
        height=verified.height,
        size_bytes=len(verified.data),
        sha256=verified.sha256,
        **band_fields(verified.phash),
        error_message="",
        stored_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if stored:
        logger.info(
            "image %s stored (%dx%d, %d bytes)",
            image.code,
            verified.width,
            verified.height,
            len(verified.data),
        )


def images_missing_small_thumbnail():
    """Stored images from before the small thumbnail existed (``image_thumbnails_remake`` fixes them)."""
    return Image.objects.filter(status=ImageStatus.STORED, thumbnail_small="").exclude(file="")


def image_thumbnails_remake(*, image_id: int) -> bool:
    """Make both thumbnails of a stored image that lacks the small one, from its stored original.

    The new files get the current keys (never an older thumbnail's: cached URLs stay true); the older file is
    deleted once the row points at the new ones. ``False`` when there was nothing to do. Raises
    ``FileNotFoundError`` or ``InvalidImage`` when the original cannot be read or decoded (nothing changes).
    """
    image = images_missing_small_thumbnail().select_related("generation").filter(id=image_id).first()
    if image is None:
        return False
    with default_storage.open(image.file.name, "rb") as stored:
        verified = verify_image(stored.read())
    _, thumbnail_name, small_name = image_storage_names(image, verified.extension)
    _save_exactly(thumbnail_name, verified.thumbnail)
    _save_exactly(small_name, verified.thumbnail_small)
    changed = Image.objects.filter(id=image.id, thumbnail=image.thumbnail.name, thumbnail_small="").update(
        thumbnail=thumbnail_name, thumbnail_small=small_name, updated_at=timezone.now()
    )
    if changed and image.thumbnail.name and image.thumbnail.name not in (thumbnail_name, small_name):
        default_storage.delete(image.thumbnail.name)
    return bool(changed)


def _expire_or_fail(image: Image, exc: Exception) -> None:
    """No more tries: expired if PixelDojo's copy is gone by now, failed otherwise."""
    if image_is_past_retention(image):
        image_mark(image_id=image.id, status=ImageStatus.EXPIRED, message=expired_message())
    else:
        image_mark(
            image_id=image.id, status=ImageStatus.FAILED, message=f"The image could not be saved: {exc}"
        )


def image_wait_for_host(*, image_id: int, host: str) -> None:
    """A pending image's host is not allowed: it waits for ``host`` (its generation is not settled), and
    admins hear about the host once."""
    Image.objects.filter(id=image_id, status=ImageStatus.PENDING).update(
        status=ImageStatus.WAITING_HOST,
        waiting_host=host,
        error_message=waiting_message(host),
        updated_at=timezone.now(),
    )
    logger.warning("image %s waits: %s is not an allowed image host", image_id, host)
    image_host_notify_admins(host=host)


def image_mark(*, image_id: int, status: str, message: str) -> None:
    """Move a pending or waiting image to a final state (expired or failed) and settle its generation."""
    Image.objects.filter(id=image_id, status__in=Image.UNSETTLED_STATUSES).update(
        status=status, error_message=message, updated_at=timezone.now()
    )
    generation_id = Image.objects.filter(id=image_id).values_list("generation_id", flat=True).first()
    if generation_id is not None:
        generation_settle(generation_id=generation_id)


def generation_settle(*, generation_id: int) -> None:
    """Once no image is pending or waiting, the generation is done (some stored) or failed (none kept)."""
    with transaction.atomic():
        generation = (
            Generation.objects.select_for_update().filter(id=generation_id, status=Status.SAVING).first()
        )
        if generation is None:
            return
        statuses = list(generation.images.values_list("status", flat=True))
        if any(status in Image.UNSETTLED_STATUSES for status in statuses):
            return
        stored = statuses.count(ImageStatus.STORED)
        generation.finished_at = timezone.now()
        if stored:
            generation.status = Status.DONE
            lost = len(statuses) - stored
            generation.error_message = f"{lost} of {len(statuses)} images could not be saved." if lost else ""
        else:
            generation.status = Status.FAILED
            generation.error_code = "images_lost"
            gone = " before PixelDojo deleted them." if ImageStatus.EXPIRED in statuses else "."
            generation.error_message = f"None of the images could be saved{gone}"
        generation.save()
        events.publish(f"generation.{'completed' if stored else 'failed'}", generation_id=generation.id)
