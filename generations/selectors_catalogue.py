"""Reads of the model catalogue: what the form offers (grouped, with costs), what a model costs, and what
operators see. The seed's four ``POST /flux`` models are always offered, whatever the catalogue holds.

A model's cost rule: ``PIXELDOJO_MODEL_COSTS`` when it names the model (an operator's explicit price),
else the catalogue's rule, else ``DEFAULT_MODEL_COST`` per image.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from generations.catalogue import (
    CostRule,
    SchemaReading,
    UnreadableCost,
    UnsupportedSchema,
    fixed_cost,
    parse_cost_rule,
    read_schema,
    requested_megapixels,
)
from generations.models import CatalogueModel, CatalogueRefresh
from generations.pixeldojo import DEFAULT_MODEL_COST, MODEL_LABELS, MODELS

SEED_GROUP = "Flux (POST /flux)"
OTHER_GROUP = "Other models"


@dataclass(frozen=True)
class ModelChoice:
    """One model the form offers: the seed's (``reading`` None: the /flux fields) or the catalogue's."""

    api_id: str
    name: str
    rule: CostRule
    group: str
    description: str = ""
    schema: dict[str, Any] | None = None
    reading: SchemaReading | None = None

    @property
    def is_seed(self) -> bool:
        return self.reading is None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.rule.label})"

    @property
    def short_name(self) -> str:
        """The name without the seed labels' description (``FLUX Pro``)."""
        return self.name.split(" — ")[0]

    @property
    def comparable(self) -> bool:
        """Whether it can be one of a comparison's models: the seed's, or a catalogue model that needs
        nothing but the prompt (a comparison sends one prompt and the parameters common to all)."""
        if self.is_seed:
            return True
        required = (self.schema or {}).get("required") or []
        return isinstance(required, list) and set(required) <= {"prompt"}

    def accepts(self, name: str) -> bool:
        """Whether a request to it may carry the parameter ``name`` (the seed's /flux fields for the seed)."""
        if self.is_seed:
            return True
        properties = (self.schema or {}).get("properties") or {}
        return isinstance(properties, dict) and name in properties


@dataclass(frozen=True)
class ModelMenu:
    """Every model offered, in the form's order; ``groups`` for its ``<optgroup>``s."""

    choices: dict[str, ModelChoice]

    def groups(self) -> list[tuple[str, list[ModelChoice]]]:
        grouped: dict[str, list[ModelChoice]] = defaultdict(list)
        for choice in self.choices.values():
            grouped[choice.group].append(choice)
        return list(grouped.items())

    def comparable(self) -> list[ModelChoice]:
        """The models a comparison may send its prompt to, in the form's order."""
        return [choice for choice in self.choices.values() if choice.comparable]

    def costs_json(self) -> str:
        """Cost rules by model for the live price (``CostRule.to_json``)."""
        return json.dumps({api_id: choice.rule.to_json() for api_id, choice in self.choices.items()})


def _catalogue_rule(row: CatalogueModel) -> CostRule | None:
    try:
        return parse_cost_rule(row.credit_cost)
    except UnreadableCost:
        return None


def _seed_rule(model: str, row: CatalogueModel | None) -> CostRule:
    if model in settings.PIXELDOJO_MODEL_COSTS:
        return fixed_cost(settings.PIXELDOJO_MODEL_COSTS[model])
    return (_catalogue_rule(row) if row is not None else None) or fixed_cost(DEFAULT_MODEL_COST)


def cost_rule(*, model: str) -> CostRule:
    """The cost rule of ``model`` (at most one query)."""
    if model in settings.PIXELDOJO_MODEL_COSTS:
        return fixed_cost(settings.PIXELDOJO_MODEL_COSTS[model])
    row = CatalogueModel.objects.filter(api_id=model).only("credit_cost").first()
    return (_catalogue_rule(row) if row is not None else None) or fixed_cost(DEFAULT_MODEL_COST)


def unit_price(*, model: str, params: dict[str, Any]) -> Decimal:
    """Credits one image of ``model`` costs with these request parameters (their resolution, if any)."""
    return cost_rule(model=model).cost(requested_megapixels(params))


def _family(row: CatalogueModel) -> str:
    return row.api_id.split("-", 1)[0].split(".", 1)[0].capitalize() or OTHER_GROUP


def model_menu() -> ModelMenu:
    """The seed's four models, then every offered catalogue model grouped by family (one query)."""
    rows = list(CatalogueModel.objects.all())
    by_id = {row.api_id: row for row in rows}
    choices = {
        model: ModelChoice(model, MODEL_LABELS[model], _seed_rule(model, by_id.get(model)), SEED_GROUP)
        for model in MODELS
    }
    offered: list[tuple[CatalogueModel, CostRule, SchemaReading]] = []
    for row in rows:
        rule = _catalogue_rule(row)
        if row.api_id in choices or not row.offered or rule is None:
            continue
        try:
            offered.append((row, rule, read_schema(row.request_schema)))
        except UnsupportedSchema:  # stored before this code could tell: listed on /ops/ as it is
            continue
    families = defaultdict(int)
    for row, _, _ in offered:
        families[_family(row)] += 1
    for row, rule, reading in sorted(offered, key=lambda item: (item[0].name.lower(), item[0].api_id)):
        group = _family(row) if families[_family(row)] > 1 else OTHER_GROUP
        choices[row.api_id] = ModelChoice(
            row.api_id, row.name, rule, group, row.description, row.request_schema, reading
        )
    ordered = {k: v for k, v in choices.items() if v.group == SEED_GROUP}
    for group in sorted(
        {c.group for c in choices.values()} - {SEED_GROUP}, key=lambda g: (g == OTHER_GROUP, g)
    ):
        ordered.update({k: v for k, v in choices.items() if v.group == group})
    return ModelMenu(ordered)


def catalogue_overview() -> dict[str, object]:
    """For /ops/: the last refresh and the last good one, counts, and the models not offered with why."""
    rows = list(CatalogueModel.objects.only("api_id", "name", "unsupported_reason", "left_out", "fetched_at"))
    return {
        "last_refresh": CatalogueRefresh.objects.order_by("-at", "-id").first(),
        "last_success": CatalogueRefresh.objects.filter(ok=True).order_by("-at", "-id").first(),
        "listed": len(rows),
        "offered": sum(row.offered for row in rows),
        "offered_beyond_seed": sum(row.offered and row.api_id not in MODELS for row in rows),
        "not_offered": [row for row in rows if not row.offered],
        "left_out": [row for row in rows if row.offered and row.left_out],
    }
