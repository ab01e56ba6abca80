"""Images as PixelDojo's answers leave them, for the benchmarks: asked of a sandbox, recorded as pending.

``answered_images()`` calls the sandbox's ``POST /flux`` (4 images per generation) and records each answer as
``generations.services`` does once PixelDojo answered: a generation *saving*, one *pending* image per URL.
The caller then queues ``persist_image`` for each (a real worker), or calls ``image_persist`` itself.
Import it once Django is set up.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import requests
from django.utils import timezone

from generations.models import Generation, Image

OUTPUTS = 4  # images per generation (PixelDojo's maximum)


@dataclass(frozen=True)
class Answered:
    """The pending images recorded, and their sandbox URLs (same order)."""

    ids: list[int]
    urls: list[str]


def answered_images(
    *,
    user: object,
    base_url: str,
    count: int,
    megapixels: str = "1",
    aspect_ratios: Sequence[str] = ("1:1",),
    prompt: str = "benchmark",
    key: str = "sandbox-key",
    team: object | None = None,
) -> Answered:
    """Ask the sandbox at ``base_url`` for ``count`` images; record them as answered and pending."""
    ids: list[int] = []
    urls: list[str] = []
    ratios = itertools.cycle(aspect_ratios)
    with requests.Session() as session:
        for number in range(-(-count // OUTPUTS)):
            outputs = min(OUTPUTS, count - number * OUTPUTS)
            body = {
                "prompt": f"{prompt} #{number}",
                "model": "flux-pro",
                "aspect_ratio": next(ratios),
                "num_outputs": outputs,
                "megapixels": megapixels,
            }
            answer = session.post(
                f"{base_url}/flux", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
            answer.raise_for_status()
            payload = answer.json()
            generation = Generation.objects.create(
                user=user,
                team=team,
                prompt=body["prompt"],
                model=body["model"],
                aspect_ratio=body["aspect_ratio"],
                num_outputs=outputs,
                megapixels=megapixels,
                seed=payload["seed"],
                status=Generation.Status.SAVING,
                attempts=1,
                provider_id=payload["id"],
                provider_created_at=timezone.now(),
                provider_answer=answer.text,
            )
            Generation.objects.filter(pk=generation.pk).update(family_root=generation.pk)  # remixes nothing
            for index, url in enumerate(payload["images"]):
                image = Image.objects.create(
                    generation=generation, user=user, team=team, index=index, provider_url=url
                )
                ids.append(image.id)
                urls.append(url)
    return Answered(ids=ids, urls=urls)
