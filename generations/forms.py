"""The generation form: its field names are PixelDojo's parameter names."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from django import forms

from credits.amounts import credits_label, format_credits, plain
from generations.pixeldojo import (
    ASPECT_RATIOS,
    LORA_MODEL,
    MAX_OUTPUTS,
    MEGAPIXEL_LABELS,
    MEGAPIXELS,
    MODEL_LABELS,
    MODELS,
    GenerationRequest,
    model_cost,
)

MAX_PROMPT_LENGTH = 2000
MAX_SEED = 2**32 - 1
DEFAULT_MODEL = "flux-pro"
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass(frozen=True)
class Price:
    """What a choice of model and number of images costs, as the form shows it before it is sent."""

    num_outputs: int
    cost: Decimal  # credits per image of the model

    @property
    def total(self) -> Decimal:
        return self.num_outputs * self.cost

    @property
    def label(self) -> str:
        """``4 x 1.5 = 6 credits`` with a multiplication sign, as ``static/js/price-preview.js`` writes it."""
        cost = format_credits(self.cost, grouping=True)
        return f"{self.num_outputs} {TIMES} {cost} = {credits_label(self.total)}"


class GenerationForm(forms.Form):
    prompt = forms.CharField(
        max_length=MAX_PROMPT_LENGTH,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "A lighthouse on a cliff at dawn, oil painting"}
        ),
        help_text="Describe the image you want.",
    )
    model = forms.ChoiceField(choices=[(m, MODEL_LABELS[m]) for m in MODELS], initial=DEFAULT_MODEL)
    aspect_ratio = forms.ChoiceField(choices=[(r, r) for r in ASPECT_RATIOS], initial="16:9")
    num_outputs = forms.TypedChoiceField(
        label="Number of images",
        choices=[(n, str(n)) for n in range(1, MAX_OUTPUTS + 1)],
        coerce=int,
        initial=1,
        help_text="Each image costs the model's price in credits (see the price below).",
    )
    seed = forms.IntegerField(
        required=False,
        min_value=-1,
        max_value=MAX_SEED,
        help_text="Same seed + same prompt = same image. Leave empty or -1 for a random seed.",
    )
    megapixels = forms.ChoiceField(choices=list(MEGAPIXEL_LABELS.items()), initial="1", required=False)
    go_fast = forms.BooleanField(required=False, label="Go fast", help_text="Faster, slightly lower quality.")
    lora_weights = forms.URLField(
        required=False,
        max_length=2000,
        assume_scheme="https",
        label="LoRA weights URL",
        help_text=f"Only for {LORA_MODEL}: a URL to Flux LoRA weights.",
    )
    lora_scale = forms.FloatField(
        required=False, min_value=-1.0, max_value=3.0, label="LoRA scale", help_text="Default 0.7."
    )

    def clean_prompt(self) -> str:
        prompt = " ".join(self.cleaned_data["prompt"].split())
        if not prompt:
            raise forms.ValidationError("Describe the image you want.")
        return prompt

    def clean_megapixels(self) -> str:
        value = self.cleaned_data.get("megapixels") or "1"
        if value not in MEGAPIXELS:
            raise forms.ValidationError("Choose 1 or 0.25 megapixels.")
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        is_lora = cleaned.get("model") == LORA_MODEL
        if cleaned.get("lora_weights") and not is_lora:
            self.add_error("lora_weights", f"LoRA weights can only be used with the {LORA_MODEL} model.")
        if cleaned.get("lora_scale") is not None and not is_lora:
            self.add_error("lora_scale", f"LoRA scale only applies to the {LORA_MODEL} model.")
        if is_lora and not cleaned.get("lora_weights") and "lora_weights" not in self.errors:
            self.add_error("lora_weights", f"The {LORA_MODEL} model needs a LoRA weights URL.")
        return cleaned

    def to_request(self) -> GenerationRequest:
        """The PixelDojo request for valid data; unset optional fields stay unset."""
        data = self.cleaned_data
        return GenerationRequest(
            prompt=data["prompt"],
            model=data["model"],
            aspect_ratio=data["aspect_ratio"],
            num_outputs=data["num_outputs"],
            seed=data.get("seed"),
            lora_weights=data.get("lora_weights") or None,
            lora_scale=data.get("lora_scale"),
            megapixels=data.get("megapixels") or None,
            go_fast=True if data.get("go_fast") else None,
        )

    def price(self) -> Price:
        """The price of the model and number of images chosen now: as submitted (also when the form has
        errors), else as pre-filled; a value that is not one of the choices counts as the default."""
        model = str(self["model"].value())
        try:
            num_outputs = int(str(self["num_outputs"].value()))
        except ValueError:
            num_outputs = 1
        if model not in MODELS:
            model = DEFAULT_MODEL
        if not 1 <= num_outputs <= MAX_OUTPUTS:
            num_outputs = 1
        return Price(num_outputs=num_outputs, cost=model_cost(model))

    @staticmethod
    def costs_json() -> str:
        """Credits per image of every model, ``{"flux-pro": "1", …}``, for the live price in the browser."""
        return json.dumps({model: plain(model_cost(model)) for model in MODELS})

    @classmethod
    def initial_from(cls, params: GenerationRequest) -> dict:
        """Initial values to pre-fill the form with a request's set parameters (used by remix)."""
        values = params.to_payload()
        return {name: values[name] for name in cls.base_fields if name in values}
