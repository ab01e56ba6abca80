"""Reads: galleries and single objects, always scoped to the user asking."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from generations.models import Generation, Image
from teams.permissions import visible_q


def generations_for_user(*, user) -> QuerySet[Generation]:
    """A user's own generations, newest first, with their images prefetched (2 queries per page)."""
    return (
        Generation.objects.filter(user=user)
        .order_by("-created_at", "-id")
        .prefetch_related(Prefetch("images", queryset=Image.objects.order_by("index")))
    )


def get_generation_for_user(*, user, code) -> Generation:
    """The generation with this code if the user may see it (author or team member); 404 for anyone else."""
    generation = (
        Generation.objects.filter(visible_q(user))
        .prefetch_related(Prefetch("images", queryset=Image.objects.order_by("index")))
        .filter(code=code)
        .first()
    )
    if generation is None:
        raise Http404("No such generation.")
    return generation


def get_image_for_user(*, user, code) -> Image:
    """The image with this code if the user may see it; 404 for everyone else."""
    image = Image.objects.filter(visible_q(user)).select_related("generation").filter(code=code).first()
    if image is None:
        raise Http404("No such image.")
    return image


def operations_overview() -> dict[str, object]:
    """What an operator checks: work by state, what is stuck, what PixelDojo deleted before we saved it."""
    from datetime import timedelta

    from django.conf import settings
    from django.db.models import Count
    from django.utils import timezone

    now = timezone.now()
    images = dict(Image.objects.values_list("status").annotate(n=Count("id")).order_by())
    generations = dict(Generation.objects.values_list("status").annotate(n=Count("id")).order_by())
    stale_before = now - timedelta(seconds=settings.SWEEP_STALE_SECONDS)
    return {
        "images": {status: images.get(status, 0) for status in Image.Status.values},
        "generations": {status: generations.get(status, 0) for status in Generation.Status.values},
        "stale_pending_images": Image.objects.filter(
            status=Image.Status.PENDING, updated_at__lt=stale_before
        ).count(),
        "expired_last_day": Image.objects.filter(
            status=Image.Status.EXPIRED, updated_at__gte=now - timedelta(days=1)
        ).count(),
        "recent_lost": list(
            Image.objects.filter(status__in=[Image.Status.EXPIRED, Image.Status.FAILED])
            .select_related("generation__user")
            .order_by("-updated_at")[:20]
        ),
    }
