"""The generation form: its field names are PixelDojo's parameter names.

The seed's four models use the ``POST /flux`` fields below; every other model offered (the catalogue's) gets
its fields from its ``requestSchema`` (``ParametersForm``, one fieldset per model, prefixed ``p-<apiId>``),
and what it sends is validated against that schema before anything is submitted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms

from credits.amounts import credits_label, format_credits
from generations.catalogue import (
    COUNT_PARAMETERS,
    RESOLUTION_PARAMETERS,
    Parameter,
    requested_count,
    requested_megapixels,
    validation_errors,
)
from generations.models import Generation
from generations.pixeldojo import (
    ASPECT_RATIOS,
    LORA_MODEL,
    MAX_OUTPUTS,
    MEGAPIXEL_LABELS,
    MEGAPIXELS,
    MODELS,
    GenerationRequest,
)
from generations.selectors_catalogue import ModelChoice, ModelMenu, model_menu
from generations.services.comparison import (
    MAX_MODELS,
    MIN_MODELS,
    CompareParams,
    ComparePrice,
    compare_price,
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


def _parameter_field(parameter: Parameter) -> forms.Field:
    """The form field for one schema parameter (bounds, choices, default and help text from the schema)."""
    common: dict[str, Any] = {
        "required": parameter.required and parameter.kind != "boolean",
        "label": parameter.title or parameter.name.replace("_", " ").capitalize(),
        "help_text": parameter.description,
        "initial": parameter.default,
    }
    if parameter.kind == "choice":
        coerce = type(parameter.choices[0])
        choices = [(str(value), str(value)) for value in parameter.choices]
        if not parameter.required and parameter.default is None:
            choices.insert(0, ("", "PixelDojo's default"))
        field: forms.Field = forms.TypedChoiceField(
            choices=choices, coerce=coerce, empty_value=None, **common
        )
    elif parameter.kind == "integer":
        field = forms.IntegerField(min_value=parameter.minimum, max_value=parameter.maximum, **common)
    elif parameter.kind == "number":
        field = forms.FloatField(min_value=parameter.minimum, max_value=parameter.maximum, **common)
    elif parameter.kind == "boolean":
        field = forms.BooleanField(**common)
    elif parameter.kind == "url":
        length = min(parameter.max_length or 2000, 2000)
        field = forms.URLField(max_length=length, assume_scheme="https", **common)
    else:
        field = forms.CharField(max_length=parameter.max_length, **common)
    if parameter.name in COUNT_PARAMETERS:
        field.widget.attrs["data-price-count"] = ""
    if parameter.name in RESOLUTION_PARAMETERS:
        field.widget.attrs["data-price-resolution"] = ""
    return field


class ParametersForm(forms.Form):
    """The parameters of one catalogue model, built from its ``requestSchema`` (the prompt aside)."""

    def __init__(self, choice: ModelChoice, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix=f"p-{choice.api_id}", **kwargs)
        self.choice = choice
        assert choice.reading is not None
        for parameter in choice.reading.parameters:
            self.fields[parameter.name] = _parameter_field(parameter)

    def values(self) -> dict[str, Any]:
        """The parameters set (cleaned): empty ones are not sent, booleans always are."""
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if value not in (None, "") or isinstance(value, bool)
        }

    def raw_values(self) -> dict[str, Any]:
        """The values as submitted (or pre-filled), for the price of a form that is not valid yet."""
        values: dict[str, Any] = {}
        for name in self.fields:
            value = self[name].value()
            try:
                values[name] = int(value) if name in COUNT_PARAMETERS else value
            except (TypeError, ValueError):
                continue
        return values


# Fields only the seed's POST /flux models use: not required (and not sent) for a catalogue model.
FLUX_ONLY_FIELDS = (
    "aspect_ratio",
    "num_outputs",
    "seed",
    "megapixels",
    "go_fast",
    "lora_weights",
    "lora_scale",
)


class GenerationForm(forms.Form):
    prompt = forms.CharField(
        max_length=MAX_PROMPT_LENGTH,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "A lighthouse on a cliff at dawn, oil painting"}
        ),
        help_text="Describe the image you want.",
    )
    model = forms.ChoiceField(initial=DEFAULT_MODEL)  # choices: the model menu, grouped (``__init__``)
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
    compare = forms.BooleanField(
        required=False,
        label="Compare models",
        help_text=f"Send the prompt to {MIN_MODELS} to {MAX_MODELS} models at once, shown side by side.",
    )
    compare_models = forms.MultipleChoiceField(
        required=False, label="Models to compare"
    )  # choices: the comparable models (``__init__``)
    # The image a remix link opened the form from (``?remix=<image>``): carried to the submission, which
    # records it as the parent if the user may see it. Anything else here is ignored, never an error.
    remix_of = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, menu: ModelMenu | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.menu = menu or model_menu()
        self.fields["model"].choices = [
            (group, [(choice.api_id, choice.label) for choice in choices])
            for group, choices in self.menu.groups()
        ]
        self.fields["compare_models"].choices = [
            (choice.api_id, choice.label) for choice in self.menu.comparable()
        ]
        self.comparing = self.is_bound and bool(self["compare"].value())
        if self.comparing:
            self.fields["model"].required = False
        self.fields["num_outputs"].widget.attrs["data-price-count"] = ""
        self.fields["megapixels"].widget.attrs["data-price-resolution"] = ""
        self.choice = self.menu.choices.get(str(self["model"].value()))
        self.parameter_forms = [
            ParametersForm(choice, self.data if self.is_bound and choice is self.choice else None)
            for choice in self.menu.choices.values()
            if not choice.is_seed
        ]
        if self.catalogue_choice is not None:
            for name in FLUX_ONLY_FIELDS:
                self.fields[name].required = False

    @property
    def catalogue_choice(self) -> ModelChoice | None:
        """The chosen model when it is a catalogue model (its fields come from its schema), else None
        (also when comparing: a comparison sends the /flux fields common to its models)."""
        if self.comparing:
            return None
        return self.choice if self.choice is not None and not self.choice.is_seed else None

    def compare_options(self) -> list[dict[str, Any]]:
        """The comparable models as the form's checkboxes: id, name, cost rule, whether it is ticked,
        whether it takes the number of images (else it makes one) and the resolution (the seed's)."""
        ticked = set(self["compare_models"].value() or ()) if self.comparing else set()
        return [
            {
                "id": f"id_compare_models_{index}",
                "value": choice.api_id,
                "name": choice.short_name,
                "cost": choice.rule.label,
                "checked": choice.api_id in ticked,
                "counts": choice.accepts("num_outputs"),
                "seed": choice.is_seed,
            }
            for index, choice in enumerate(self.menu.comparable())
        ]

    @property
    def chosen_parameters(self) -> ParametersForm | None:
        return next((f for f in self.parameter_forms if f.choice is self.catalogue_choice), None)

    @property
    def flux_models(self) -> str:
        """The seed's models, space-separated, for the fieldset of the /flux fields."""
        return " ".join(MODELS)

    def clean_prompt(self) -> str:
        prompt = " ".join(self.cleaned_data["prompt"].split())
        if not prompt:
            raise forms.ValidationError("Describe the image you want.")
        return prompt

    def clean_remix_of(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(self.cleaned_data.get("remix_of") or "")
        except ValueError:
            return None

    def clean_megapixels(self) -> str:
        value = self.cleaned_data.get("megapixels") or "1"
        if value not in MEGAPIXELS:
            raise forms.ValidationError("Choose 1 or 0.25 megapixels.")
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.comparing:
            self._errors.pop("model", None)  # the model menu is not used (nor shown) when comparing
            models = cleaned.get("compare_models")
            if models is not None and not MIN_MODELS <= len(set(models)) <= MAX_MODELS:
                self.add_error(
                    "compare_models",
                    f"Choose {MIN_MODELS} to {MAX_MODELS} models to compare ({len(set(models))} chosen).",
                )
            elif models is not None and len(set(models)) != len(models):
                self.add_error("compare_models", "Choose each model once.")
            self._clean_lora(cleaned, is_lora=LORA_MODEL in (models or ()))
            return cleaned
        if (parameters := self.chosen_parameters) is not None:
            self._clean_parameters(parameters, cleaned)
            return cleaned
        self._clean_lora(cleaned, is_lora=cleaned.get("model") == LORA_MODEL)
        return cleaned

    def _clean_lora(self, cleaned: dict, *, is_lora: bool) -> None:
        """LoRA weights and scale go with the LoRA model only, which needs weights."""
        if cleaned.get("lora_weights") and not is_lora:
            self.add_error("lora_weights", f"LoRA weights can only be used with the {LORA_MODEL} model.")
        if cleaned.get("lora_scale") is not None and not is_lora:
            self.add_error("lora_scale", f"LoRA scale only applies to the {LORA_MODEL} model.")
        if is_lora and not cleaned.get("lora_weights") and "lora_weights" not in self.errors:
            self.add_error("lora_weights", f"The {LORA_MODEL} model needs a LoRA weights URL.")

    def _clean_parameters(self, parameters: ParametersForm, cleaned: dict) -> None:
        """Validate a catalogue model's parameters: their fields, then the request against its schema."""
        name = parameters.choice.name
        if not parameters.is_valid():
            self.add_error(None, f"Some of {name}'s parameters need fixing: see below.")
            return
        if "prompt" not in cleaned:
            return
        assert parameters.choice.schema is not None
        for field, message in validation_errors(parameters.choice.schema, self.catalogue_payload()):
            if field in parameters.fields:
                parameters.add_error(field, message)
            else:
                self.add_error(None, f"{name}: {message}" if field is None else f"{name}, {field}: {message}")
        if parameters.errors:
            self.add_error(None, f"Some of {name}'s parameters need fixing: see below.")

    def catalogue_payload(self) -> dict[str, Any]:
        """The request body for the chosen catalogue model (valid data): the prompt and its parameters."""
        parameters = self.chosen_parameters
        assert parameters is not None
        return {"prompt": self.cleaned_data["prompt"], **parameters.values()}

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

    def compare_params(self) -> CompareParams:
        """The parameters common to a comparison's models (valid data)."""
        data = self.cleaned_data
        return CompareParams(
            aspect_ratio=data["aspect_ratio"],
            num_outputs=data["num_outputs"],
            seed=data.get("seed"),
            megapixels=data.get("megapixels") or None,
            go_fast=True if data.get("go_fast") else None,
            lora_weights=data.get("lora_weights") or None,
            lora_scale=data.get("lora_scale"),
        )

    def compare_price(self) -> ComparePrice:
        """Each ticked model's price and the total, for the values as submitted (also with errors)."""
        ticked = set(self["compare_models"].value() or ())
        choices = [choice for choice in self.menu.comparable() if choice.api_id in ticked]
        value = str(self["megapixels"].value() or "1")
        params = CompareParams(
            num_outputs=self._num_outputs_shown(), megapixels=value if value in MEGAPIXELS else "1"
        )
        return compare_price(choices=choices, params=params)

    @property
    def price_text(self) -> str:
        """The price line: the comparison's when comparing, else the chosen model's."""
        return self.compare_price().label if self.comparing else self.price().label

    def _num_outputs_shown(self) -> int:
        try:
            num_outputs = int(str(self["num_outputs"].value()))
        except ValueError:
            return 1
        return num_outputs if 1 <= num_outputs <= MAX_OUTPUTS else 1

    def fingerprint(self) -> str:
        """The reuse key of what valid data asks for (``""`` without a fixed seed: never reused)."""
        if (choice := self.catalogue_choice) is not None:
            return Generation.job_fingerprint_for(model=choice.api_id, job_input=self.catalogue_payload())
        return Generation.fingerprint_for(self.to_request())

    def price(self) -> Price:
        """The price of the model and number of images chosen now: as submitted (also when the form has
        errors), else as pre-filled; a value that is not one of the choices counts as the default."""
        if (parameters := self.chosen_parameters) is not None:
            values = parameters.raw_values()
            megapixels = requested_megapixels(values)
            return Price(num_outputs=requested_count(values), cost=parameters.choice.rule.cost(megapixels))
        choice = self.choice if self.choice is not None else self.menu.choices[DEFAULT_MODEL]
        num_outputs = self._num_outputs_shown()
        megapixels = requested_megapixels({"megapixels": self["megapixels"].value()})
        return Price(num_outputs=num_outputs, cost=choice.rule.cost(megapixels))

    def costs_json(self) -> str:
        """Cost rules of every model offered, ``{"flux-pro": "1", "flux-2-flex": {"default", "tiers"}}``,
        for the live price in the browser."""
        return self.menu.costs_json()

    @classmethod
    def initial_from(cls, params: GenerationRequest) -> dict:
        """Initial values to pre-fill the form with a request's set parameters (used by remix)."""
        values = params.to_payload()
        return {name: values[name] for name in cls.base_fields if name in values}
