"""The periodic sweep: nothing stays pending forever, whatever messages were lost or workers died."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from generations import tasks
from generations.models import Generation, Image
from generations.services.calling import generation_record_kept_answer
from generations.services.jobs import jobs_poll_missed
from generations.services.persistence import (
    expired_message,
    generation_settle,
    image_is_past_retention,
    image_mark,
)
from generations.services.waiting import image_hosts_notify_pending, images_release_waiting

logger = logging.getLogger(__name__)

Status = Generation.Status
ImageStatus = Image.Status


def sweep_stale_work() -> dict[str, int]:
    """Re-queue work left untouched for ``SWEEP_STALE_SECONDS``; expire images PixelDojo has deleted;
    re-queue images waiting for a host that is allowed now (a setting changed) and e-mail admins about
    waiting hosts no e-mail went out for."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.SWEEP_STALE_SECONDS)
    counts = {
        "images_requeued": 0,
        "images_expired": 0,
        "generations_requeued": 0,
        "answers_recorded": 0,
        "generations_settled": 0,
        "waiting_images_requeued": 0,
        "waiting_images_expired": 0,
        "host_emails_sent": 0,
        "jobs_polled": 0,
    }

    pending = Image.objects.select_related("generation").filter(
        status=ImageStatus.PENDING, updated_at__lt=stale_before
    )
    for image in pending.iterator():
        if image_is_past_retention(image):
            image_mark(image_id=image.id, status=ImageStatus.EXPIRED, message=expired_message())
            counts["images_expired"] += 1
        else:
            Image.objects.filter(id=image.id).update(updated_at=now)  # one re-queue per stale period
            tasks.persist_image.delay(image.id)
            counts["images_requeued"] += 1

    released = images_release_waiting()
    counts["waiting_images_requeued"] = released["images_requeued"]
    counts["waiting_images_expired"] = released["images_expired"]
    counts["host_emails_sent"] = image_hosts_notify_pending()

    unanswered = (
        Generation.objects.awaiting_answer()
        .unleased(now=now)
        .filter(updated_at__lt=stale_before)
        .values_list("id", flat=True)
    )
    for generation_id in list(unanswered):
        Generation.objects.filter(id=generation_id).update(updated_at=now)
        tasks.run_generation.delay(generation_id)
        counts["generations_requeued"] += 1

    # Answered (the answer is kept) but never recorded: the worker died in between. Never asked again.
    kept = Generation.objects.filter(
        status=Status.GENERATING, updated_at__lt=stale_before, job_status=""
    ).exclude(provider_id="")
    for generation_id in list(kept.values_list("id", flat=True)):
        generation_record_kept_answer(generation_id=generation_id)
        counts["answers_recorded"] += 1

    # Jobs PixelDojo accepted whose next poll is long overdue (a lost message, a dead worker): polled anew.
    counts["jobs_polled"] = jobs_poll_missed(stale_before=stale_before)

    saving = Generation.objects.filter(status=Status.SAVING, updated_at__lt=stale_before).exclude(
        images__status__in=Image.UNSETTLED_STATUSES
    )
    for generation_id in list(saving.values_list("id", flat=True)):
        generation_settle(generation_id=generation_id)
        counts["generations_settled"] += 1

    if any(counts.values()):
        logger.info("sweep: %s", counts)
    return counts
