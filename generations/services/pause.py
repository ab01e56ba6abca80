"""Pausing new work while PixelDojo reports the account's quota exhausted."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from generations.models import ProviderPause
from pixelgallery import events
from pixelgallery.caching import forget, remembered

PAUSE_CACHE_KEY = "generations:provider-pause"


def provider_pause_active() -> ProviderPause | None:
    """The pause in force now, if any."""
    return ProviderPause.objects.in_force().order_by("-paused_at").first()


def header_provider_pause() -> ProviderPause | None:
    """``provider_pause_active`` for the page header banner, cached until a pause is started, extended,
    cleared or edited (forgotten here and on save/delete) and never past the pause's own end. Submissions
    check ``provider_pause_active`` itself."""
    pause = remembered(PAUSE_CACHE_KEY, provider_pause_active)
    if pause is not None and not pause.is_in_force():  # over by now: ask the database again
        forget_provider_pause()
        pause = remembered(PAUSE_CACHE_KEY, provider_pause_active)
    return pause


def forget_provider_pause(**_signal_arguments: object) -> None:
    """Drop the header's cached pause (also a ``post_save``/``post_delete`` receiver)."""
    forget(PAUSE_CACHE_KEY)


def provider_pause_start(*, code: str, message: str) -> ProviderPause:
    """Pause submissions for ``PIXELDOJO_QUOTA_PAUSE_SECONDS`` (extending a pause already in force)."""
    until = timezone.now() + timedelta(seconds=settings.PIXELDOJO_QUOTA_PAUSE_SECONDS)
    current = provider_pause_active()
    if current is not None:
        ProviderPause.objects.filter(id=current.id).update(paused_until=until)
        forget_provider_pause()
        current.paused_until = until
        return current
    pause = ProviderPause.objects.create(code=code, message=message, paused_until=until)  # post_save forgets
    events.publish("quota.paused", pause_id=pause.id)
    return pause


def provider_pause_clear(*, user=None, pauses: QuerySet[ProviderPause] | None = None) -> int:
    """An operator resumes submissions (only ``pauses``, when given); returns how many pauses were cleared."""
    pauses = ProviderPause.objects.all() if pauses is None else pauses
    cleared = pauses.filter(cleared_at__isnull=True).update(cleared_at=timezone.now(), cleared_by=user)
    forget_provider_pause()
    return cleared
