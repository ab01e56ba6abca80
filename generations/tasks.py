"""Thin Celery tasks: they take ids, call services, and decide only about retrying.

All tasks are ``acks_late`` with ``reject_on_worker_lost`` (see settings): a worker that dies mid-task leaves
the message to be redelivered, and the services make a second run safe.
"""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)

RUN_MAX_RETRIES = 6
PERSIST_MAX_RETRIES = 6


@shared_task(bind=True, max_retries=RUN_MAX_RETRIES, acks_late=True, reject_on_worker_lost=True)
def run_generation(self, generation_id: int) -> None:
    """Call PixelDojo for one generation; retry rate limits, server errors and network faults."""
    from generations import services
    from generations.pixeldojo import PixelDojoError

    try:
        services.generation_run(generation_id=generation_id)
    except PixelDojoError as exc:
        if not exc.retryable:
            return  # the service already recorded the failure.
        if self.request.retries >= self.max_retries:
            services.generation_fail(generation_id=generation_id, code=exc.code, message=str(exc))
            return
        delay = services.retry_delay(exc, self.request.retries)
        services.generation_note_retry(generation_id=generation_id, message=f"{exc} (in {delay:.0f} s)")
        logger.info("generation %s: %s, retrying in %.1f s", generation_id, exc.code, delay)
        raise self.retry(countdown=delay, exc=exc) from exc


@shared_task(bind=True, max_retries=PERSIST_MAX_RETRIES, acks_late=True, reject_on_worker_lost=True)
def persist_image(self, image_id: int) -> None:
    """Download and store one image; retry transient download or decode failures."""
    from generations import services
    from generations.downloads import DownloadError
    from generations.imaging import InvalidImage

    try:
        services.image_persist(image_id=image_id)
    except (DownloadError, InvalidImage) as exc:
        if self.request.retries >= self.max_retries:
            services.image_give_up(image_id=image_id, error=exc)
            return
        delay = services.retry_delay(exc, self.request.retries)
        logger.info("image %s: %s, retrying in %.1f s", image_id, exc, delay)
        raise self.retry(countdown=delay, exc=exc) from exc


@shared_task
def sweep_stale_work() -> dict[str, int]:
    """Periodic (beat): re-queue stuck work, expire images PixelDojo has deleted."""
    from generations import services

    return services.sweep_stale_work()
