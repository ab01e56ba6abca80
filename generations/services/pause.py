"""Pausing new work while PixelDojo reports the account's quota exhausted."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from generations.models import ProviderPause


def provider_pause_active() -> ProviderPause | None:
    """The pause in force now, if any."""
    return ProviderPause.objects.in_force().order_by("-paused_at").first()


def provider_pause_start(*, code: str, message: str) -> ProviderPause:
    """Pause submissions for ``PIXELDOJO_QUOTA_PAUSE_SECONDS`` (extending a pause already in force)."""
    until = timezone.now() + timedelta(seconds=settings.PIXELDOJO_QUOTA_PAUSE_SECONDS)
    current = provider_pause_active()
    if current is not None:
        ProviderPause.objects.filter(id=current.id).update(paused_until=until)
        current.paused_until = until
        return current
    return ProviderPause.objects.create(code=code, message=message, paused_until=until)


def provider_pause_clear(*, user=None, pauses: QuerySet[ProviderPause] | None = None) -> int:
    """An operator resumes submissions (only ``pauses``, when given); returns how many pauses were cleared."""
    pauses = ProviderPause.objects.all() if pauses is None else pauses
    return pauses.filter(cleared_at__isnull=True).update(cleared_at=timezone.now(), cleared_by=user)
