"""Reads: galleries and single objects, always scoped to the user asking."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from generations.models import Generation, Image


def generations_for_user(*, user) -> QuerySet[Generation]:
    """A user's own generations, newest first, with their images prefetched (2 queries per page)."""
    return (
        Generation.objects.filter(user=user)
        .order_by("-created_at", "-id")
        .prefetch_related(Prefetch("images", queryset=Image.objects.order_by("index")))
    )


def get_generation_for_user(*, user, code) -> Generation:
    """The generation with this code if the user may see it; 404 for everyone else."""
    generation = generations_for_user(user=user).filter(code=code).first()
    if generation is None:
        raise Http404("No such generation.")
    return generation


def get_image_for_user(*, user, code) -> Image:
    """The image with this code if the user may see it; 404 for everyone else."""
    image = Image.objects.select_related("generation").filter(code=code, generation__user=user).first()
    if image is None:
        raise Http404("No such image.")
    return image
