"""Reads: galleries and single objects (always scoped to the user asking), the work in flight and quota
reports that budgets and the credits pages count, and what operators check."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Exists, Min, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.http import Http404
from django.utils import timezone

from credits.amounts import credits_label
from credits.hooks import QuotaState
from credits.selectors import provider_balance_latest
from generations.downloads import allowing_setting, is_allowed_image_host
from generations.models import CatalogueModel, Comparison, Generation, Image, ImageHost, ProviderPause
from generations.pixeldojo import MODEL_LABELS, model_cost
from teams.models import Team
from teams.permissions import team_scope_q, visible_q


def generations_for_user(*, user) -> QuerySet[Generation]:
    """A user's own generations, newest first, with their comparisons and images (2 queries per page)."""
    return (
        Generation.objects.filter(user=user)
        .select_related("comparison")
        .order_by("-created_at", "-id")
        .prefetch_related(Prefetch("images", queryset=Image.objects.order_by("index")))
    )


def get_generation_for_user(*, user, code) -> Generation:
    """The generation with this code if the user may see it (author or team member); 404 for anyone else."""
    generation = (
        Generation.objects.filter(visible_q(user))
        .select_related("comparison")
        .prefetch_related(Prefetch("images", queryset=Image.objects.order_by("index")))
        .filter(code=code)
        .first()
    )
    if generation is None:
        raise Http404("No such generation.")
    return generation


def get_comparison_for_user(*, user, code) -> Comparison:
    """The comparison with this code if the user may see it (author, or the team's members, as for its
    generations); 404 for anyone else."""
    comparison = (
        Comparison.objects.filter(visible_q(user)).select_related("user", "team").filter(code=code).first()
    )
    if comparison is None:
        raise Http404("No such comparison.")
    return comparison


@dataclass(frozen=True)
class ComparisonColumn:
    """One model's column of a comparison: its generation, the model's name and what it was priced at."""

    generation: Generation
    label: str
    cost: Decimal

    @property
    def cost_label(self) -> str:
        return credits_label(self.cost)


def comparison_generations(*, comparison: Comparison) -> QuerySet[Generation]:
    """The comparison's generations in the order its models were chosen, images prefetched (2 queries)."""
    return comparison.generations.order_by("id").prefetch_related(
        Prefetch("images", queryset=Image.objects.order_by("index"))
    )


def _short_label(model: str, names: dict[str, str]) -> str:
    """``FLUX Pro`` for the seed's models (their labels' names), the catalogue's name for the others."""
    if model in MODEL_LABELS:
        return MODEL_LABELS[model].split(" — ")[0]
    return names.get(model) or model


def comparison_columns(*, comparison: Comparison) -> list[ComparisonColumn]:
    """The comparison's columns, each labelled with its model's name (the catalogue's for its models) and
    cost (3 queries)."""
    generations = list(comparison_generations(comparison=comparison))
    models = {generation.model for generation in generations} - set(MODEL_LABELS)
    names = dict(CatalogueModel.objects.filter(api_id__in=models).values_list("api_id", "name"))
    return [
        ComparisonColumn(
            generation=generation,
            label=_short_label(generation.model, names),
            cost=generation.price if generation.price is not None else Decimal(0),
        )
        for generation in generations
    ]


def get_image_for_user(*, user, code) -> Image:
    """The image with this code if the user may see it; 404 for everyone else."""
    image = Image.objects.filter(visible_q(user)).select_related("generation").filter(code=code).first()
    if image is None:
        raise Http404("No such image.")
    return image


def remix_parent_for_user(*, user, code: uuid.UUID | None) -> Image | None:
    """The image with this code, with its generation, if the user may see it (what they may remix); else
    ``None``, whether it does not exist or is someone else's."""
    if code is None:
        return None
    return Image.objects.filter(visible_q(user)).select_related("generation").filter(code=code).first()


def reusable_generation(*, user, team: Team | None, fingerprint: str) -> Generation | None:
    """The newest finished generation with this reuse key whose images are all stored, in the space the
    submission goes to, scoped as the library scopes it: the team's work (``team``, for a member who may
    see it: nothing for anyone else, such as a member who was removed), else the user's personal work.
    ``first_image_code`` is its first image's code. ``None`` for an empty key (no fixed seed: never reused).

    One query, on the ``generation_fingerprint`` index (the membership ``team_scope_q`` checks is loaded
    once per user object, as every page does already).
    """
    if not fingerprint or not getattr(user, "is_authenticated", False):
        return None
    personal = Q(team__isnull=True, user_id=user.id)
    scope = team_scope_q(user, team_id=team.id) if team is not None else personal
    images = Image.objects.filter(generation=OuterRef("pk"))
    unstored = images.exclude(status=Image.Status.STORED)
    return (
        Generation.objects.filter(scope, fingerprint=fingerprint, status=Generation.Status.DONE)
        .filter(Exists(images), ~Exists(unstored))
        .annotate(first_image_code=Subquery(images.order_by("index").values("code")[:1]))
        .order_by("-created_at", "-id")
        .first()
    )


def _reserved_rows(team_id: int, *group_by: str):
    """Work in flight in the team grouped by ``group_by`` and model: (…, model, priced, unpriced images)."""
    return (
        Generation.objects.awaiting_answer()
        .filter(team_id=team_id)
        .values_list(*group_by, "model")
        .annotate(priced=Sum("price"), unpriced=Sum("num_outputs", filter=Q(price__isnull=True), default=0))
        .order_by()
    )


def _reserved(model: str, priced: Decimal | None, unpriced: int) -> Decimal:
    """The price of work in flight; work recorded without one costs its images at the model's cost."""
    return (priced or Decimal(0)) + unpriced * model_cost(model)


def credits_reserved(*, team_id: int, user_id: int | None = None) -> Decimal:
    """Credits reserved in the team (by ``user_id``, else by anyone) by work PixelDojo has not answered yet:
    the sum of its ``price`` (one query)."""
    rows = _reserved_rows(team_id)
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    return sum((_reserved(*row) for row in rows), Decimal(0))


def credits_reserved_by_user(*, team_id: int) -> dict[int, Decimal]:
    """``credits_reserved`` of every member with work in flight in the team, by user id (one query)."""
    reserved: dict[int, Decimal] = defaultdict(Decimal)
    for user_id, *row in _reserved_rows(team_id, "user_id"):
        reserved[user_id] += _reserved(*row)
    return dict(reserved)


def provider_quota_state(*, days: int = 30, now: datetime | None = None) -> QuotaState:
    """The pause in force, else the latest quota report of the last ``days`` days (one query)."""
    now = now or timezone.now()
    reports = ProviderPause.objects.in_force(now=now) | ProviderPause.objects.filter(
        paused_at__gte=now - timedelta(days=days)
    )
    pause = reports.order_by("-paused_at", "-id").first()
    return QuotaState(pause=pause, active=pause is not None and pause.is_in_force(now=now))


def operations_overview() -> dict[str, object]:
    """What an operator checks: work by state, what is stuck, what PixelDojo deleted before we saved it."""
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
        # PixelDojo answered 2xx (it may have charged) but nothing could be used: the kept body, to check.
        "unusable_answers": list(
            Generation.objects.filter(status=Generation.Status.FAILED)
            .exclude(provider_answer="")
            .exclude(images__isnull=False)
            .select_related("user")
            .order_by("-updated_at")[:20]
        ),
        "balance": provider_balance_latest(),
        # Answers that held more than was asked (extra or repeated images): only what was asked was kept.
        "waiting_hosts": image_hosts_waiting(),
        "answer_anomalies": list(
            Generation.objects.exclude(answer_anomaly="").select_related("user").order_by("-updated_at")[:20]
        ),
    }


def image_hosts_allowed() -> list[str]:
    """Image hosts operators allowed on ``/ops/`` (beyond the settings' allow-list)."""
    return list(ImageHost.objects.filter(allowed_at__isnull=False).values_list("host", flat=True))


@dataclass(frozen=True)
class WaitingHost:
    """A host images wait for: how many, since when, the setting that would allow it, whether it is
    allowed already (the sweeper re-queues them within a minute)."""

    host: str
    images: int
    oldest: datetime
    setting: str
    allowed: bool


def image_hosts_waiting() -> list[WaitingHost]:
    """Every host images wait for, most images first (two queries)."""
    allowed = image_hosts_allowed()
    rows = (
        Image.objects.filter(status=Image.Status.WAITING_HOST)
        .values_list("waiting_host")
        .annotate(n=Count("id"), oldest=Min("created_at"))
        .order_by("-n", "waiting_host")
    )
    return [
        WaitingHost(
            host=host,
            images=count,
            oldest=oldest,
            setting=allowing_setting(host),
            allowed=is_allowed_image_host(host, extra_hosts=allowed),
        )
        for host, count, oldest in rows
    ]


def team_work_in_flight(*, team_id: int) -> dict[str, int]:
    """Generations of the team still queued, running or saving (``teams.hooks`` summary field): a team is
    not deleted under them, so no paid answer is lost."""
    active = Generation.objects.filter(team_id=team_id, status__in=Generation.ACTIVE_STATUSES)
    return {"work_in_flight": active.count()}
