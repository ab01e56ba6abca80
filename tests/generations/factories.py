"""Small builders for test data."""

from __future__ import annotations

import json
from decimal import Decimal

import requests

from generations.models import Generation, Image


def make_generation(user, **fields) -> Generation:
    values = {"prompt": "a quiet harbour", "model": "flux-pro", "aspect_ratio": "1:1", "num_outputs": 1}
    generation = Generation.objects.create(user=user, **{**values, **fields})
    if generation.family_root is None:  # as a submission that remixes nothing: its own family's root
        generation.family_root = generation.id
        Generation.objects.filter(id=generation.id).update(family_root=generation.id)
    return generation


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


def make_kept_answer(user, sandbox, *, key: str, **changes) -> Generation:
    """A generation as a worker that died leaves it: a real sandbox answer (with ``changes``) kept, nothing
    recorded yet; the sweeper records it."""
    response = requests.post(
        f"{sandbox.base_url}/flux",
        json={"prompt": "a lighthouse at dawn", "model": "flux-pro", "num_outputs": 2},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    return Generation.objects.create(
        user=user,
        prompt="a lighthouse at dawn",
        model="flux-pro",
        num_outputs=2,
        price=Decimal(2),
        status="generating",
        attempts=1,
        provider_id=response.json()["id"],
        provider_answer=json.dumps({**response.json(), **changes}),
    )
