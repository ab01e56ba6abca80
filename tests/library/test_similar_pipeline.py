"""Hashes made on storing, by a real worker downloading the sandbox's pictures over HTTP."""

from __future__ import annotations

import pytest

from generations import services
from generations.models import Generation
from generations.pixeldojo import GenerationRequest
from generations.similarity import SIMILAR_DISTANCE, bands, distance
from library.selectors_similar import similar_images
from tests.conftest import wait_for
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db(transaction=True)


def made(user, team, prompt: str, num_outputs: int) -> Generation:
    params = GenerationRequest(
        prompt=prompt,
        model="flux-pro",
        num_outputs=num_outputs,
        seed=7,
        aspect_ratio="1:1",
        megapixels="0.25",
    )
    generation = services.generation_submit(user=user, params=params, team=team)

    def done():
        """the generation is done"""
        generation.refresh_from_db()
        return generation.status in (Generation.Status.DONE, Generation.Status.FAILED)

    wait_for(done, timeout=30)
    assert generation.status == Generation.Status.DONE, generation.error_message
    return generation


def test_stored_images_get_their_hash_and_find_their_near_duplicates(celery_worker, sandbox, alice):
    sandbox.configure(near_duplicates=True)
    team = make_team(alice)
    foxes = list(made(alice, team, "a red fox in snow", 3).images.order_by("index"))
    (lighthouse,) = made(alice, team, "a lighthouse at dawn", 1).images.all()

    for image in [*foxes, lighthouse]:
        assert image.status == "stored" and image.phash is not None
        assert (image.phash_band0, image.phash_band1, image.phash_band2, image.phash_band3) == bands(
            image.phash
        )
    assert all(distance(foxes[0].phash, fox.phash) <= SIMILAR_DISTANCE for fox in foxes[1:])
    assert distance(foxes[0].phash, lighthouse.phash) > SIMILAR_DISTANCE

    near = similar_images(user=alice, image=foxes[0])
    assert sorted(s.image.id for s in near) == sorted(fox.id for fox in foxes[1:])
    assert similar_images(user=alice, image=lighthouse) == []
