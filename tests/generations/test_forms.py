"""The generation form validates every PixelDojo parameter field by field."""

from __future__ import annotations

import pytest

from generations.forms import GenerationForm
from generations.pixeldojo import GenerationRequest

pytestmark = pytest.mark.django_db  # the form offers the stored catalogue's models too

VALID = {"prompt": "a red fox in snow", "model": "flux-pro", "aspect_ratio": "16:9", "num_outputs": "2"}


def form_errors(**changes: str) -> dict[str, list[str]]:
    form = GenerationForm(data={**VALID, **changes})
    form.is_valid()
    return form.errors


def test_minimal_valid_form_builds_request_with_only_set_parameters():
    form = GenerationForm(data=VALID)
    assert form.is_valid(), form.errors
    request = form.to_request()
    assert request == GenerationRequest(
        prompt="a red fox in snow", model="flux-pro", aspect_ratio="16:9", num_outputs=2, megapixels="1"
    )
    assert "seed" not in request.to_payload() and "go_fast" not in request.to_payload()


def test_full_lora_form_keeps_every_parameter():
    data = {
        **VALID,
        "model": "flux-dev-single-lora",
        "seed": "42",
        "lora_weights": "https://example.com/lora.safetensors",
        "lora_scale": "0.9",
        "megapixels": "0.25",
        "go_fast": "on",
    }
    form = GenerationForm(data=data)
    assert form.is_valid(), form.errors
    assert form.to_request().to_payload() == {
        "prompt": "a red fox in snow",
        "model": "flux-dev-single-lora",
        "aspect_ratio": "16:9",
        "num_outputs": 2,
        "seed": 42,
        "lora_weights": "https://example.com/lora.safetensors",
        "lora_scale": 0.9,
        "megapixels": "0.25",
        "go_fast": True,
    }


def test_prompt_whitespace_is_normalised():
    form = GenerationForm(data={**VALID, "prompt": "  a   fox \n in snow "})
    assert form.is_valid()
    assert form.cleaned_data["prompt"] == "a fox in snow"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("prompt", "", "required"),
        ("prompt", "    ", "required"),
        ("prompt", "x" * 2001, "at most 2000"),
        ("model", "flux-9000", "valid choice"),
        ("aspect_ratio", "5:7", "valid choice"),
        ("num_outputs", "0", "valid choice"),
        ("num_outputs", "5", "valid choice"),
        ("num_outputs", "two", "valid choice"),
        ("seed", "-2", "greater than or equal to -1"),
        ("seed", "4294967296", "less than or equal to"),
        ("seed", "1.5", "whole number"),
        ("megapixels", "2", "valid choice"),
        ("lora_weights", "not a url", "valid URL"),
        (
            "lora_weights",
            "https://example.com/lora.safetensors",
            "can only be used with the flux-dev-single-lora",
        ),
        ("lora_scale", "0.5", "only applies to the flux-dev-single-lora"),
        ("lora_scale", "abc", "number"),
    ],
)
def test_each_invalid_field_gets_its_own_error(field, value, message):
    errors = form_errors(**{field: value})
    assert list(errors) == [field], errors
    assert message in " ".join(errors[field])


@pytest.mark.parametrize(("value", "message"), [("3.5", "less than or equal to 3"), ("-1.5", "greater than")])
def test_lora_scale_range_is_checked_for_the_lora_model(value, message):
    errors = form_errors(
        model="flux-dev-single-lora", lora_weights="https://example.com/l.safetensors", lora_scale=value
    )
    assert list(errors) == ["lora_scale"]
    assert message in errors["lora_scale"][0]


def test_lora_model_requires_lora_weights():
    errors = form_errors(model="flux-dev-single-lora")
    assert list(errors) == ["lora_weights"]
    assert "needs a LoRA weights URL" in errors["lora_weights"][0]


def test_seed_minus_one_means_random_and_is_passed_on():
    form = GenerationForm(data={**VALID, "seed": "-1"})
    assert form.is_valid()
    assert form.to_request().seed == -1
