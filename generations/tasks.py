"""Thin Celery tasks: they take ids, call services, and re-schedule themselves when a service asks.

Retry bounds live in the database (attempt counters), not in Celery's retry count, so waiting for a
rate-limit slot never uses up tries. All tasks are ``acks_late`` with ``reject_on_worker_lost``: a worker that
dies mid-task leaves the message to be redelivered, and the services make a second run safe.
"""

from __future__ import annotations

from celery import shared_task

TASK_OPTIONS = {"bind": True, "max_retries": None, "acks_late": True, "reject_on_worker_lost": True}


@shared_task(**TASK_OPTIONS)
def run_generation(self, generation_id: int) -> None:
    """Call PixelDojo for one generation."""
    from generations import services

    delay = services.generation_run(generation_id=generation_id)
    if delay is not None:
        raise self.retry(countdown=delay)


@shared_task(**TASK_OPTIONS)
def poll_job(self, generation_id: int, polls: int) -> None:
    """Poll the PixelDojo job of one generation; the next poll is a new message (``polls + 1``)."""
    from generations.services import jobs

    delay = jobs.job_poll(generation_id=generation_id, polls=polls)
    if delay is not None:
        poll_job.apply_async((generation_id, polls + 1), countdown=delay)


@shared_task(**TASK_OPTIONS)
def persist_image(self, image_id: int) -> None:
    """Download and store one image."""
    from generations import services

    delay = services.image_persist(image_id=image_id)
    if delay is not None:
        raise self.retry(countdown=delay)


@shared_task
def sweep_stale_work() -> dict[str, int]:
    """Periodic (beat): re-queue stuck work, expire images PixelDojo has deleted."""
    from generations import services

    return services.sweep_stale_work()


@shared_task
def refresh_catalogue(only_if_due: bool = False) -> bool | None:
    """Fetch PixelDojo's model catalogue: on demand (/ops/), or from beat ``only_if_due`` (daily; sooner
    after a start or a failure). Whether it was fetched, None when it was not due."""
    from generations import services

    if only_if_due and not services.catalogue_refresh_due():
        return None
    return services.catalogue_refresh().ok
