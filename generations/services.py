"""Business logic of a generation's life: submit, call PixelDojo, persist each image, settle the status.

Every function is safe to run twice (Celery may redeliver a task): side effects are guarded by database state
transitions made with conditional updates or row locks.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from credits.services import ledger_charge_images
from generations import tasks
from generations.downloads import DownloadError, ImageGone, fetch_image
from generations.imaging import InvalidImage, make_thumbnail, verify_image
from generations.models import Generation, Image
from generations.pixeldojo import GenerationRequest, PixelDojoError, RateLimited, client_from_settings

logger = logging.getLogger(__name__)

Status = Generation.Status
ImageStatus = Image.Status

STALE_PENDING_AFTER = timedelta(minutes=3)
STALE_QUEUED_AFTER = timedelta(minutes=10)


# --- Submitting ---------------------------------------------------------------------------------------


def generation_submit(*, user, request: GenerationRequest) -> Generation:
    """Record a queued generation and enqueue the PixelDojo call once the transaction commits."""
    with transaction.atomic():
        generation = Generation.objects.create(
            user=user,
            prompt=request.prompt,
            model=request.model,
            aspect_ratio=request.aspect_ratio or "",
            num_outputs=request.num_outputs or 1,
            seed=request.seed,
            lora_weights=request.lora_weights or "",
            lora_scale=request.lora_scale,
            megapixels=request.megapixels or "",
            go_fast=request.go_fast,
        )
        transaction.on_commit(partial(tasks.run_generation.delay, generation.id))
    logger.info(
        "generation %s queued (%s, %d outputs)", generation.code, generation.model, generation.num_outputs
    )
    return generation


def generation_request(generation: Generation) -> GenerationRequest:
    """The API request a stored generation stands for."""
    return GenerationRequest(**generation.parameters())


# --- Calling PixelDojo --------------------------------------------------------------------------------


def generation_run(*, generation_id: int) -> Generation | None:
    """Call PixelDojo for a queued generation, record its images, charge credits, enqueue the downloads.

    Returns ``None`` when there is nothing to do (already answered, finished or deleted). Raises a retryable
    ``PixelDojoError`` for the task to retry; non-retryable errors end the generation as failed.
    """
    claimed = Generation.objects.filter(
        id=generation_id, status__in=[Status.QUEUED, Status.GENERATING], provider_id=""
    ).update(status=Status.GENERATING, attempts=F("attempts") + 1, updated_at=timezone.now())
    if not claimed:
        return None
    generation = Generation.objects.get(id=generation_id)
    try:
        result = client_from_settings().generate(generation_request(generation))
    except PixelDojoError as exc:
        if not exc.retryable:
            generation_fail(generation_id=generation_id, code=exc.code, message=str(exc))
        raise
    with transaction.atomic():
        generation = Generation.objects.select_for_update().get(id=generation_id)
        if generation.provider_id:
            return generation  # another delivery of this task recorded an answer first.
        if not result.images:
            generation.status = Status.FAILED
            generation.error_code = "no_images"
            generation.error_message = "PixelDojo answered without any image. No credits were charged."
            generation.finished_at = timezone.now()
            generation.save()
            return generation
        generation.provider_id = result.id
        generation.provider_created_at = result.created
        generation.status = Status.SAVING
        generation.error_code = generation.error_message = ""
        if generation.seed in (None, -1) and isinstance(result.extra.get("seed"), int):
            generation.seed = result.extra["seed"]
        generation.save()
        images = [
            Image.objects.create(generation=generation, index=index, provider_url=url)
            for index, url in enumerate(result.images)
        ]
        ledger_charge_images(generation=generation, images=images)
        for image in images:
            transaction.on_commit(partial(tasks.persist_image.delay, image.id))
    logger.info("generation %s answered by PixelDojo with %d images", generation.code, len(images))
    return generation


def generation_fail(*, generation_id: int, code: str, message: str) -> None:
    """End a generation that has not been answered yet as failed, with a message for people."""
    Generation.objects.filter(id=generation_id, status__in=[Status.QUEUED, Status.GENERATING]).update(
        status=Status.FAILED,
        error_code=code,
        error_message=message,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def generation_note_retry(*, generation_id: int, message: str) -> None:
    """Tell the user why their generation is waiting, without changing its state."""
    Generation.objects.filter(id=generation_id, status=Status.GENERATING).update(
        error_message=message, updated_at=timezone.now()
    )


def retry_delay(exc: Exception, retries: int) -> float:
    """Seconds before the next try: PixelDojo's Retry-After, else exponential back-off with full jitter."""
    if isinstance(exc, RateLimited):
        return exc.retry_after + random.uniform(0, 1)
    return random.uniform(0, min(300.0, 2.0 * 2**retries)) + 1.0


# --- Persisting images --------------------------------------------------------------------------------


def image_storage_names(image: Image, extension: str) -> tuple[str, str]:
    """Deterministic storage keys, so a retry overwrites instead of adding files."""
    base = f"{image.generation.code}/{image.code}"
    return f"originals/{base}.{extension}", f"thumbnails/{base}.webp"


def _save_exactly(name: str, data: bytes) -> str:
    """Store ``data`` under exactly ``name``, replacing what a previous attempt may have left there."""
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:  # a concurrent attempt won the name: keep one file per image.
        default_storage.delete(saved)
    return name


def image_is_past_retention(image: Image) -> bool:
    answered = image.generation.provider_created_at or image.created_at
    return timezone.now() - answered > timedelta(seconds=settings.PIXELDOJO_RETENTION_SECONDS)


def image_persist(*, image_id: int) -> Image | None:
    """Download one pending image, verify it, store it with a thumbnail and mark it stored.

    Raises ``DownloadError``/``InvalidImage`` for the task to retry when trying again may help.
    """
    image = Image.objects.select_related("generation").filter(id=image_id).first()
    if image is None or image.status != ImageStatus.PENDING:
        return image
    Image.objects.filter(id=image_id).update(attempts=F("attempts") + 1)
    if image_is_past_retention(image):
        return image_mark(image_id=image_id, status=ImageStatus.EXPIRED, message=_EXPIRED_MESSAGE)
    try:
        data, _declared_type = fetch_image(image.provider_url, max_bytes=settings.PIXELDOJO_MAX_IMAGE_BYTES)
    except ImageGone:
        return image_mark(image_id=image_id, status=ImageStatus.EXPIRED, message=_EXPIRED_MESSAGE)
    except DownloadError as exc:
        if exc.retryable:
            raise
        return image_mark(image_id=image_id, status=ImageStatus.FAILED, message=str(exc))
    verified = verify_image(data)
    thumbnail = make_thumbnail(data)
    original_name, thumbnail_name = image_storage_names(image, verified.extension)
    _save_exactly(original_name, verified.data)
    _save_exactly(thumbnail_name, thumbnail)
    stored = Image.objects.filter(id=image_id, status=ImageStatus.PENDING).update(
        status=ImageStatus.STORED,
        file=original_name,
        thumbnail=thumbnail_name,
        content_type=verified.content_type,
        width=verified.width,
        height=verified.height,
        size_bytes=len(verified.data),
        sha256=verified.sha256,
        error_message="",
        stored_at=timezone.now(),
    )
    if stored:
        logger.info(
            "image %s stored (%dx%d, %d bytes)", image.code, verified.width, verified.height, len(data)
        )
    generation_settle(generation_id=image.generation_id)
    return Image.objects.get(id=image_id)


_EXPIRED_MESSAGE = "PixelDojo deleted this image (its 24-hour link expired) before it could be saved."


def image_mark(*, image_id: int, status: str, message: str) -> Image | None:
    """Move a pending image to a final state (expired or failed) and settle its generation."""
    Image.objects.filter(id=image_id, status=ImageStatus.PENDING).update(status=status, error_message=message)
    image = Image.objects.filter(id=image_id).first()
    if image is not None:
        generation_settle(generation_id=image.generation_id)
    return image


def image_give_up(*, image_id: int, error: Exception) -> None:
    """After the last retry: expired if PixelDojo's copy is gone by now, failed otherwise."""
    image = Image.objects.select_related("generation").filter(id=image_id).first()
    if image is None:
        return
    if image_is_past_retention(image):
        image_mark(image_id=image_id, status=ImageStatus.EXPIRED, message=_EXPIRED_MESSAGE)
    else:
        reason = str(error) if isinstance(error, DownloadError | InvalidImage) else "unexpected error"
        image_mark(
            image_id=image_id, status=ImageStatus.FAILED, message=f"The image could not be saved: {reason}"
        )


def generation_settle(*, generation_id: int) -> None:
    """Once no image is pending, the generation is done (some stored) or failed (none could be kept)."""
    with transaction.atomic():
        generation = (
            Generation.objects.select_for_update().filter(id=generation_id, status=Status.SAVING).first()
        )
        if generation is None:
            return
        statuses = list(generation.images.values_list("status", flat=True))
        if ImageStatus.PENDING in statuses:
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
            generation.error_message = "None of the images could be saved" + (
                " before PixelDojo deleted them." if ImageStatus.EXPIRED in statuses else "."
            )
        generation.save()


# --- Sweeping -----------------------------------------------------------------------------------------


def sweep_stale_work() -> dict[str, int]:
    """Re-queue work that a lost message or crashed worker left behind; expire what PixelDojo deleted."""
    now = timezone.now()
    counts = {"images_requeued": 0, "images_expired": 0, "generations_requeued": 0}
    for image in Image.objects.select_related("generation").filter(
        status=ImageStatus.PENDING, created_at__lt=now - STALE_PENDING_AFTER
    ):
        if image_is_past_retention(image):
            image_mark(image_id=image.id, status=ImageStatus.EXPIRED, message=_EXPIRED_MESSAGE)
            counts["images_expired"] += 1
        else:
            tasks.persist_image.delay(image.id)
            counts["images_requeued"] += 1
    stale = Generation.objects.filter(
        status__in=[Status.QUEUED, Status.GENERATING], provider_id="", updated_at__lt=now - STALE_QUEUED_AFTER
    ).values_list("id", flat=True)
    for generation_id in stale:
        tasks.run_generation.delay(generation_id)
        counts["generations_requeued"] += 1
    return counts
