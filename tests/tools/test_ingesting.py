"""tools/ingesting.py: the benchmarks' pending images are what the app records after a PixelDojo answer."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from generations.models import Generation, Image
from generations.services import image_persist
from tests.conftest import SANDBOX_KEY
from tools.ingesting import answered_images

pytestmark = pytest.mark.django_db


def test_answered_images_are_pending_and_the_app_stores_them(alice, sandbox):
    sandbox.configure(output_megapixels=0.25, image_pool=2)

    answered = answered_images(
        user=alice, base_url=sandbox.base_url, count=6, aspect_ratios=("1:1", "16:9"), key=SANDBOX_KEY
    )

    assert len(answered.ids) == len(answered.urls) == 6
    generations = Generation.objects.order_by("id")
    assert [g.num_outputs for g in generations] == [4, 2]
    assert [g.aspect_ratio for g in generations] == ["1:1", "16:9"]
    assert {g.status for g in generations} == {Generation.Status.SAVING}
    assert set(Image.objects.values_list("status", flat=True)) == {Image.Status.PENDING}

    for image_id in answered.ids:
        assert image_persist(image_id=image_id) is None
    assert set(Generation.objects.values_list("status", flat=True)) == {Generation.Status.DONE}
    image = Image.objects.get(id=answered.ids[0])
    assert image.status == Image.Status.STORED and (image.width, image.height) == (496, 496)
    with default_storage.open(image.thumbnail.name) as thumbnail, PILImage.open(thumbnail) as picture:
        assert picture.format == "WEBP"
