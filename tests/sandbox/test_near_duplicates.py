"""``near_duplicates``: a generation's outputs served as near-duplicates of its first, so similarity has
something to find; without it (the default) every output and every prompt looks different."""

from __future__ import annotations

import io
import itertools

import pytest
import requests
from PIL import Image

from generations.similarity import SIMILAR_DISTANCE, distance, perceptual_hash
from sandbox.config import SandboxConfig
from tests.sandbox.helpers import flux


def hashes(server, **body) -> list[int]:
    """The perceptual hashes of one generation's pictures, downloaded over HTTP."""
    found = []
    for url in flux(server, num_outputs=4, megapixels="0.25", seed=7, **body).json()["images"]:
        response = requests.get(url, timeout=10)
        assert response.status_code == 200
        with Image.open(io.BytesIO(response.content)) as png:
            png.thumbnail((640, 640))
            found.append(perceptual_hash(png.convert("RGB")))
    return found


def test_near_duplicates_are_a_few_bits_apart_and_other_prompts_far(server):
    server.configure(near_duplicates=True)
    foxes = hashes(server, prompt="a red fox in snow")
    whales = hashes(server, prompt="a blue whale at sea", aspect_ratio="16:9")
    again = hashes(server, prompt="a red fox in snow")

    assert again == foxes  # the same prompt and seed: the same pictures
    for group in (foxes, whales):
        assert all(distance(a, b) <= SIMILAR_DISTANCE for a, b in itertools.combinations(group, 2))
        assert len(set(group)) > 1  # near, not all identical
    assert min(distance(a, b) for a in foxes for b in whales) > 2 * SIMILAR_DISTANCE - 4

    server.configure(near_duplicates=False)  # the default: each output a layout of its own
    apart = hashes(server, prompt="a red fox in snow")
    assert apart[0] == foxes[0]  # the first output is the same picture either way
    assert min(distance(a, b) for a, b in itertools.combinations(apart, 2)) > SIMILAR_DISTANCE


@pytest.mark.parametrize("value", [1, "yes", None])
def test_near_duplicates_must_be_a_boolean(server, value):
    with pytest.raises(ValueError, match="near_duplicates must be true or false"):
        server.configure(near_duplicates=value)
    assert server.config.near_duplicates is False


def test_near_duplicates_from_the_environment():
    assert SandboxConfig.from_env({"PIXELDOJO_SANDBOX_NEAR_DUPLICATES": "1"}).near_duplicates is True
    assert SandboxConfig.from_env({}).to_dict()["near_duplicates"] is False
    with pytest.raises(ValueError, match="PIXELDOJO_SANDBOX_NEAR_DUPLICATES must be 1 or 0"):
        SandboxConfig.from_env({"PIXELDOJO_SANDBOX_NEAR_DUPLICATES": "maybe"})
