"""One mapping between a stored generation and the request sent to PixelDojo, both ways."""

from __future__ import annotations

import pytest

from generations.forms import GenerationForm
from generations.models import Generation
from generations.pixeldojo import GenerationRequest

FULL = GenerationRequest(
    prompt="a fox",
    model="flux-dev-single-lora",
    aspect_ratio="3:2",
    num_outputs=3,
    seed=42,
    lora_weights="https://example.com/lora.safetensors",
    lora_scale=0.7,
    megapixels="0.25",
    go_fast=True,
)


@pytest.mark.django_db
@pytest.mark.parametrize("params", [FULL, GenerationRequest(prompt="a fox", model="flux-pro", num_outputs=1)])
def test_a_stored_request_comes_back_unchanged(alice, params):
    generation = Generation.objects.create(user=alice, **Generation.fields_for(params))
    generation.refresh_from_db()
    assert generation.to_request() == params
    assert generation.parameters() == params.to_payload()


def test_unset_parameters_are_stored_blank_and_one_image_by_default():
    fields = Generation.fields_for(GenerationRequest(prompt="a fox", model="flux-pro"))
    assert fields == {
        "prompt": "a fox",
        "model": "flux-pro",
        "aspect_ratio": "",
        "num_outputs": 1,
        "seed": None,
        "lora_weights": "",
        "lora_scale": None,
        "megapixels": "",
        "go_fast": None,
    }


def test_remix_prefills_the_set_parameters_only():
    initial = GenerationForm.initial_from(GenerationRequest(prompt="a fox", model="flux-pro", seed=7))
    assert initial == {"prompt": "a fox", "model": "flux-pro", "seed": 7}
