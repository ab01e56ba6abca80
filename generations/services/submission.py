"""Accepting a prompt: record it and enqueue the PixelDojo call after commit."""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction

from credits.services import BudgetExceeded, budget_check_submission
from generations import tasks
from generations.models import Generation
from generations.pixeldojo import GenerationRequest, model_cost
from generations.selectors import credits_reserved
from generations.services.pause import provider_pause_active
from pixelgallery.moments import absolute_text
from teams.models import Team
from teams.permissions import Action, role_refusal

logger = logging.getLogger(__name__)


class SubmissionRefused(Exception):
    """The submission cannot be accepted now; the message says why, for the person submitting."""


def generation_submit(*, user, params: GenerationRequest, team: Team | None = None) -> Generation:
    """Record a queued generation of ``params`` (in ``team``, or personal) and enqueue the PixelDojo call
    after commit. Its price (images times the model's cost) counts against budgets until it is answered."""
    reason = role_refusal(user, Action.GENERATE, team=team)
    if reason is not None:
        raise SubmissionRefused(reason)
    pause = provider_pause_active()
    if pause is not None:
        raise SubmissionRefused(
            f"Generation is paused: PixelDojo reported the account's quota exhausted at "
            f"{absolute_text(pause.paused_at)}. It resumes at {absolute_text(pause.paused_until)} or when "
            f"an operator resumes it. Nothing was queued or charged."
        )
    generation = Generation(user=user, team=team, **Generation.fields_for(params))
    generation.price = generation.num_outputs * model_cost(generation.model)  # reserved until answered
    with transaction.atomic():
        if team is not None:
            # The team's row, locked as its deletion locks it: work is never queued in a deleted team (the
            # deletion, for its part, waits for work queued before it).
            if Team.objects.select_for_update().filter(pk=team.id, deleted_at__isnull=True).first() is None:
                raise SubmissionRefused(
                    f"{team.name} was deleted. Switch to Personal or another team; nothing was queued "
                    "or charged."
                )
            try:
                budget_check_submission(
                    team=team,
                    user=user,
                    credits=generation.price,
                    reserved=partial(credits_reserved, team_id=team.id),
                )
            except BudgetExceeded as refusal:
                raise SubmissionRefused(str(refusal)) from refusal
        generation.save(force_insert=True)
        transaction.on_commit(partial(tasks.run_generation.delay, generation.id))
    logger.info(
        "generation %s queued (%s, %d outputs)", generation.code, generation.model, generation.num_outputs
    )
    return generation
