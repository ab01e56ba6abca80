"""Small builders for test data."""

from __future__ import annotations

from generations.models import Generation, Image


def make_generation(user, **fields) -> Generation:
    values = {"prompt": "a quiet harbour", "model": "flux-pro", "aspect_ratio": "1:1", "num_outputs": 1}
    return Generation.objects.create(user=user, **{**values, **fields})


def make_stored_image(generation: Generation, *, index: int = 0) -> Image:
    return Image.objects.create(
        generation=generation,
        user_id=generation.user_id,
        team_id=generation.team_id,
        index=index,
        provider_url=f"http://127.0.0.1:9/generated/x_{index + 1}.png",
        status=Image.Status.STORED,
        width=64,
        height=64,
    )
