"""Comparing models: one prompt sent to 2 to 4 models in one submission, priced and reserved as one.

Each model gets its own generation (priced at its own cost) pointing at one ``Comparison``; the budget is
checked once, for the total, in the transaction that records them all, so either every model is queued or
none is; the PixelDojo calls are enqueued only after that transaction commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import transaction

from credits.amounts import credits_label, format_credits
from generations import tasks
from generations.catalogue import validation_errors
from generations.models import Comparison, Generation
from generations.pixeldojo import LORA_MODEL, GenerationRequest
from generations.selectors_catalogue import ModelChoice, ModelMenu, model_menu
from generations.services.submission import (
    SubmissionRefused,
    _check_team_and_budget,
    _insert,
    _refuse_when_paused,
    catalogue_generation,
    flux_generation,
)
from teams.models import Team
from teams.permissions import Action, role_refusal

logger = logging.getLogger(__name__)

MIN_MODELS, MAX_MODELS = 2, 4
# The parameters a catalogue model is sent when its schema has them (the prompt always).
CATALOGUE_COMMON = ("aspect_ratio", "num_outputs", "seed")


@dataclass(frozen=True)
class CompareParams:
    """The parameters every model of a comparison is sent (LoRA ones only to the LoRA model; a catalogue
    model only those its schema has, of ``CATALOGUE_COMMON``)."""

    aspect_ratio: str | None = None
    num_outputs: int = 1
    seed: int | None = None
    megapixels: str | None = None
    go_fast: bool | None = None
    lora_weights: str | None = None
    lora_scale: float | None = None


@dataclass(frozen=True)
class ComparePrice:
    """What each model of a comparison costs, in order, and the total, as the form shows it."""

    terms: tuple[Decimal, ...]

    @property
    def total(self) -> Decimal:
        return sum(self.terms, Decimal(0))

    @property
    def label(self) -> str:
        """``Compare 3 models: 1 + 1.5 + 1 = 3.5 credits`` (as ``static/js/price-preview.js`` writes it)."""
        if not MIN_MODELS <= len(self.terms) <= MAX_MODELS:
            return f"Compare: choose {MIN_MODELS} to {MAX_MODELS} models"
        said = " + ".join(format_credits(term, grouping=True) for term in self.terms)
        return f"Compare {len(self.terms)} models: {said} = {credits_label(self.total)}"


def images_for(choice: ModelChoice, num_outputs: int) -> int:
    """Images a comparison asks ``choice`` for: the common number, or one when its schema has no count."""
    return num_outputs if choice.accepts("num_outputs") else 1


def compare_price(*, choices: list[ModelChoice], params: CompareParams) -> ComparePrice:
    """Each model's images times its cost (seed models at the asked resolution, others at their default)."""
    terms = []
    for choice in choices:
        megapixels = Decimal(params.megapixels) if choice.is_seed and params.megapixels else None
        terms.append(images_for(choice, params.num_outputs) * choice.rule.cost(megapixels))
    return ComparePrice(tuple(terms))


def _chosen(models: list[str], menu: ModelMenu) -> list[ModelChoice]:
    """The models asked for, checked: 2 to 4, each once, each one a comparison may use."""
    if len(set(models)) != len(models):
        raise SubmissionRefused("Choose each model once. Nothing was queued.")
    if not MIN_MODELS <= len(models) <= MAX_MODELS:
        raise SubmissionRefused(
            f"Compare {MIN_MODELS} to {MAX_MODELS} models ({len(models)} chosen). Nothing was queued."
        )
    chosen = []
    for model in models:
        choice = menu.choices.get(model)
        if choice is None:
            raise SubmissionRefused(f"The model {model} is not offered. Pick another; nothing was queued.")
        if not choice.comparable:
            raise SubmissionRefused(
                f"{choice.name} needs more than a prompt, so it cannot be compared. Nothing was queued."
            )
        chosen.append(choice)
    return chosen


def _flux_request(prompt: str, choice: ModelChoice, params: CompareParams) -> GenerationRequest:
    lora = choice.api_id == LORA_MODEL
    return GenerationRequest(
        prompt=prompt,
        model=choice.api_id,
        aspect_ratio=params.aspect_ratio,
        num_outputs=params.num_outputs,
        seed=params.seed,
        megapixels=params.megapixels,
        go_fast=params.go_fast,
        lora_weights=params.lora_weights if lora else None,
        lora_scale=params.lora_scale if lora else None,
    )


def _catalogue_payload(prompt: str, choice: ModelChoice, params: CompareParams) -> dict[str, Any]:
    """The job body for a catalogue model: the prompt and the common parameters its schema has."""
    payload: dict[str, Any] = {"prompt": prompt}
    values = {"aspect_ratio": params.aspect_ratio, "num_outputs": params.num_outputs, "seed": params.seed}
    for name in CATALOGUE_COMMON:
        value = values[name]
        if value is None or (name == "seed" and value < 0) or not choice.accepts(name):
            continue
        payload[name] = value
    assert choice.schema is not None
    if errors := validation_errors(choice.schema, payload):
        said = "; ".join(f"{name}: {message}" if name else message for name, message in errors)
        raise SubmissionRefused(f"{choice.name} refuses this request ({said}). Nothing was queued.")
    return payload


def comparison_submit(
    *,
    user,
    team: Team | None,
    prompt: str,
    models: list[str],
    params: CompareParams | None = None,
    menu: ModelMenu | None = None,
) -> Comparison:
    """Send ``prompt`` to each of ``models`` (2 to 4, distinct) with the common ``params``: one generation
    per model, each priced at its model's cost, all recorded in one transaction after the budget was
    checked once for their total (refused: nothing is recorded or queued), enqueued after commit."""
    params = params or CompareParams()
    reason = role_refusal(user, Action.GENERATE, team=team)
    if reason is not None:
        raise SubmissionRefused(reason)
    choices = _chosen(list(models), menu or model_menu())
    ids = [choice.api_id for choice in choices]
    if LORA_MODEL in ids and not params.lora_weights:
        raise SubmissionRefused(f"The {LORA_MODEL} model needs a LoRA weights URL. Nothing was queued.")
    if (params.lora_weights or params.lora_scale is not None) and LORA_MODEL not in ids:
        raise SubmissionRefused(
            f"LoRA weights and scale only apply to the {LORA_MODEL} model. Nothing was queued."
        )
    _refuse_when_paused()
    comparison = Comparison(user=user, team=team, prompt=prompt)
    generations: list[Generation] = []
    for choice in choices:
        if choice.is_seed:
            request = _flux_request(prompt, choice, params)
            generation = flux_generation(user=user, team=team, params=request)
        else:
            payload = _catalogue_payload(prompt, choice, params)
            generation = catalogue_generation(user=user, team=team, model=choice.api_id, payload=payload)
        generations.append(generation)
    total = sum((generation.price for generation in generations), Decimal(0))
    with transaction.atomic():
        _check_team_and_budget(user=user, team=team, credits=total)
        comparison.save(force_insert=True)
        for generation in generations:
            generation.comparison = comparison
            _insert(generation)
            transaction.on_commit(partial(tasks.run_generation.delay, generation.id))
    logger.info("comparison %s queued (%s, %s credits)", comparison.code, ", ".join(ids), total)
    return comparison
