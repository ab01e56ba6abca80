"""Accepting a prompt: record it and enqueue the PixelDojo call after commit."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from credits.services import BudgetExceeded, budget_check_submission
from generations import tasks
from generations.catalogue import (
    UnsupportedSchema,
    read_schema,
    requested_count,
    validation_errors,
)
from generations.models import CatalogueModel, Generation, Image
from generations.pixeldojo import MODELS, GenerationRequest
from generations.selectors import credits_reserved
from generations.selectors_catalogue import unit_price
from generations.selectors_queue import TURN_GRACE_SECONDS
from generations.services.pause import provider_pause_active
from pixelgallery.moments import absolute_text
from teams.models import Team
from teams.permissions import Action, can, role_refusal

logger = logging.getLogger(__name__)


class SubmissionRefused(Exception):
    """The submission cannot be accepted now; the message says why, for the person submitting."""


def generation_submit(
    *, user, params: GenerationRequest, team: Team | None = None, remix_of: Image | None = None
) -> Generation:
    """Record a queued generation of ``params`` (in ``team``, or personal) and enqueue the PixelDojo call
    after commit. Its price (images times the model's cost) counts against budgets until it is answered.
    ``remix_of``: the image it remixes (one the user may see), recorded as its parent."""
    reason = role_refusal(user, Action.GENERATE, team=team)
    if reason is not None:
        raise SubmissionRefused(reason)
    lineage = _lineage(user=user, remix_of=remix_of)
    _refuse_when_paused()
    generation = flux_generation(user=user, team=team, params=params, lineage=lineage)
    with transaction.atomic():
        _check_team_and_budget(user=user, team=team, credits=generation.price)
        _insert(generation)
        transaction.on_commit(partial(tasks.run_generation.delay, generation.id))
    logger.info(
        "generation %s queued (%s, %d outputs)", generation.code, generation.model, generation.num_outputs
    )
    return generation


def _refuse_when_paused() -> None:
    """Refuse new work while PixelDojo's quota is reported exhausted."""
    pause = provider_pause_active()
    if pause is not None:
        raise SubmissionRefused(
            f"Generation is paused: PixelDojo reported the account's quota exhausted at "
            f"{absolute_text(pause.paused_at)}. It resumes at {absolute_text(pause.paused_until)} or when "
            f"an operator resumes it. Nothing was queued or charged."
        )


def flux_generation(
    *, user, team: Team | None, params: GenerationRequest, lineage: dict[str, Any] | None = None
) -> Generation:
    """The (unsaved) queued generation of a seed model's ``params`` (with its remix ``lineage``), priced:
    its images times the model's cost, reserved until answered."""
    generation = Generation(
        user=user,
        team=team,
        fingerprint=Generation.fingerprint_for(params),
        **Generation.fields_for(params),
        **(lineage or {}),
    )
    unit = unit_price(model=generation.model, params=params.to_payload())
    generation.price = generation.num_outputs * unit
    return generation


def catalogue_generation(
    *, user, team: Team | None, model: str, payload: dict[str, Any], lineage: dict[str, Any] | None = None
) -> Generation:
    """The (unsaved) queued generation of a catalogue model's ``payload`` (already validated, with its remix
    ``lineage``), priced by the model's cost rule."""
    count = requested_count(payload)
    seed, aspect = payload.get("seed"), payload.get("aspect_ratio")
    return Generation(
        user=user,
        team=team,
        prompt=str(payload.get("prompt") or ""),
        model=model,
        num_outputs=count,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**63 else None,
        aspect_ratio=aspect if isinstance(aspect, str) and len(aspect) <= 8 else "",
        job_input=dict(payload),
        fingerprint=Generation.job_fingerprint_for(model=model, job_input=payload),
        price=count * unit_price(model=model, params=payload),
        **(lineage or {}),
    )


def _lineage(*, user, remix_of: Image | None) -> dict[str, Any]:
    """The remix fields of a generation remixing ``remix_of``: its parent, and the parent's family (the
    parent's generation's root). Nothing for a generation that remixes nothing."""
    if remix_of is None:
        return {}
    if not can(user, Action.VIEW, team_id=remix_of.team_id, author_id=remix_of.user_id):
        raise SubmissionRefused("You cannot see the image you are remixing. Nothing was queued.")
    parent = remix_of.generation
    return {"remixed_from": remix_of, "family_root": parent.family_root or parent.id}


def _insert(generation: Generation) -> None:
    """Insert ``generation``, in line for a rate-limit slot at once; one that remixed nothing starts its own
    family (its root is itself)."""
    generation.waiting_until = timezone.now() + timedelta(seconds=TURN_GRACE_SECONDS)  # in line at once
    generation.save(force_insert=True)
    if generation.family_root is None:
        generation.family_root = generation.id
        Generation.objects.filter(pk=generation.pk).update(family_root=generation.id)


def _check_team_and_budget(*, user, team: Team | None, credits) -> None:
    """Inside the submission's transaction: refuse work in a deleted team or beyond the team's budgets."""
    if team is not None:
        # The team's row, locked as its deletion locks it: work is never queued in a deleted team (the
        # deletion, for its part, waits for work queued before it).
        if Team.objects.select_for_update().filter(pk=team.id, deleted_at__isnull=True).first() is None:
            raise SubmissionRefused(
                f"{team.name} was deleted. Switch to Personal or another team; nothing was queued or charged."
            )
        try:
            budget_check_submission(
                team=team, user=user, credits=credits, reserved=partial(credits_reserved, team_id=team.id)
            )
        except BudgetExceeded as refusal:
            raise SubmissionRefused(str(refusal)) from refusal


def catalogue_generation_submit(
    *,
    user,
    model: str,
    payload: dict[str, Any],
    team: Team | None = None,
    remix_of: Image | None = None,
) -> Generation:
    """Record a queued generation of a catalogue model (not one of the seed's ``POST /flux`` models), sent
    as a PixelDojo job after commit: who may, its schema (validated with ``jsonschema``), its price by the
    model's cost rule against the budgets, and the image it remixes, as ``generation_submit`` does."""
    reason = role_refusal(user, Action.GENERATE, team=team)
    if reason is not None:
        raise SubmissionRefused(reason)
    lineage = _lineage(user=user, remix_of=remix_of)
    row = CatalogueModel.objects.filter(api_id=model).exclude(api_id__in=MODELS).first()
    if row is None or not row.offered:
        raise SubmissionRefused(f"The model {model} is not offered. Pick another model; nothing was queued.")
    try:
        read_schema(row.request_schema)
    except UnsupportedSchema as exc:
        raise SubmissionRefused(f"{row.name} cannot be offered: {exc}. Nothing was queued.") from None
    if errors := validation_errors(row.request_schema, payload):
        said = "; ".join(f"{name}: {message}" if name else message for name, message in errors)
        raise SubmissionRefused(f"{row.name} refuses this request ({said}). Nothing was queued.")
    _refuse_when_paused()
    generation = catalogue_generation(user=user, team=team, model=model, payload=payload, lineage=lineage)
    with transaction.atomic():
        _check_team_and_budget(user=user, team=team, credits=generation.price)
        _insert(generation)
        transaction.on_commit(partial(tasks.run_generation.delay, generation.id))
    count = generation.num_outputs
    logger.info("generation %s queued as a PixelDojo job (%s, %d outputs)", generation.code, model, count)
    return generation
