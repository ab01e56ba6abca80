"""Thin Celery tasks for the API: they call services."""

from __future__ import annotations

from celery import shared_task


@shared_task
def forget_old_idempotency_keys() -> int:
    """Periodic (beat): delete idempotency keys past their window."""
    from api import services

    return services.idempotency_keys_forget_old()
