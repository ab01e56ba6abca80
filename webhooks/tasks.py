"""Thin Celery tasks for webhooks (queue ``webhooks``): they take ids and call services."""

from __future__ import annotations

from celery import shared_task

TASK_OPTIONS = {"bind": True, "max_retries": None, "acks_late": True, "reject_on_worker_lost": True}


@shared_task(**TASK_OPTIONS)
def deliver_webhook(self, delivery_id: int) -> None:
    """Make one delivery's due attempt, and come back for the next when it is soon."""
    from webhooks import services

    delay = services.delivery_attempt(delivery_id=delivery_id)
    if delay is not None:
        raise self.retry(countdown=delay)


@shared_task
def send_due_webhooks() -> int:
    """Periodic (beat): queue deliveries whose next attempt is due."""
    from webhooks import services

    return services.deliveries_send_due()
