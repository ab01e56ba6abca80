"""Whole generations through a real Celery worker, the sandbox over HTTP and real files in storage."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from credits.models import LedgerEntry
from generations import services
from generations.models import Generation, Image
from generations.pixeldojo import GenerationRequest
from sandbox.config import FaultRates, KeyPlan
from tests.conftest import SANDBOX_KEY, wait_for
from tests.generations.factories import make_kept_answer

pytestmark = pytest.mark.django_db(transaction=True)


def submit(user, **params) -> Generation:
    params = GenerationRequest(**{"prompt": "a lighthouse at dawn", "model": "flux-pro", **params})
    return services.generation_submit(user=user, params=params)


def finished(generation: Generation):
    def check():
        """generation reaches a final state"""
        generation.refresh_from_db()
        return generation.status in (Generation.Status.DONE, Generation.Status.FAILED)

    return check


def test_generation_is_stored_end_to_end_by_a_real_worker(celery_worker, alice, media_storage):
    generation = submit(alice, num_outputs=2, aspect_ratio="16:9", megapixels="0.25", seed=11)
    wait_for(finished(generation), timeout=30)

    assert generation.status == Generation.Status.DONE, generation.error_message
    assert generation.provider_id.startswith("gen_")
    images = list(generation.images.order_by("index"))
    assert [image.status for image in images] == ["stored", "stored"]
    for image in images:
        with default_storage.open(image.file.name, "rb") as stored:
            data = stored.read()
        assert hashlib.sha256(data).hexdigest() == image.sha256
        with PILImage.open(io.BytesIO(data)) as picture:
            assert picture.format == "PNG" and picture.size == (image.width, image.height)
        assert image.width > image.height  # 16:9
        assert 200_000 <= image.width * image.height <= 300_000  # 0.25 MP
        for name, side in ((image.thumbnail.name, 640), (image.thumbnail_small.name, 320)):
            with default_storage.open(name, "rb") as thumb, PILImage.open(thumb) as picture:
                assert picture.format == "WEBP" and max(picture.size) == side  # the sandbox's are larger
        assert (media_storage / image.file.name).is_file()  # a real file under the storage root
    assert images[0].sha256 != images[1].sha256
    charges = LedgerEntry.objects.filter(generation=generation, kind="charge")
    assert sorted(charges.values_list("image__index", flat=True)) == [0, 1]
    assert sum(charges.values_list("credits", flat=True)) == 2


def test_images_sent_as_objects_are_stored_and_charged_once(celery_worker, alice, sandbox):
    sandbox.configure(image_style="objects")  # {"url", "seed", "width", "height"} per image
    generation = submit(alice, num_outputs=3, megapixels="0.25")
    wait_for(finished(generation), timeout=30)

    assert generation.status == Generation.Status.DONE, generation.error_message
    assert sandbox.stats()["flux_requests"] == 1  # read at the first answer: never asked (and paid) again
    assert list(generation.images.values_list("status", flat=True)) == ["stored"] * 3
    assert LedgerEntry.objects.filter(generation=generation, kind="charge").count() == 3


@pytest.mark.parametrize(
    ("fault", "code"), [("html_200", "unexpected_response"), ("error_200", "server_error")]
)
def test_a_200_without_usable_images_fails_at_once_and_is_never_asked_again(
    celery_worker, alice, sandbox, settings, fault, code
):
    sandbox.configure(faults=FaultRates(**{fault: 1.0}))
    generation = submit(alice, num_outputs=2)
    wait_for(finished(generation), timeout=30)

    assert generation.status == Generation.Status.FAILED and generation.error_code == code
    assert "may have charged your account" in generation.error_message
    assert generation.provider_answer and SANDBOX_KEY not in generation.provider_answer
    settings.SWEEP_STALE_SECONDS = 0
    services.sweep_stale_work()
    services.generation_run(generation_id=generation.id)  # a redelivered message
    assert sandbox.stats()["flux_requests"] == 1
    assert not generation.images.exists()
    charges = LedgerEntry.objects.filter(generation=generation, kind="charge")
    assert [(entry.image_id, entry.credits) for entry in charges] == [(None, 2)]  # a 2xx: its price, once


def answered_but_unrecorded(user, sandbox, **changes) -> Generation:
    return make_kept_answer(user, sandbox, key=SANDBOX_KEY, **changes)


def test_an_answer_kept_by_a_worker_that_died_is_recorded_by_the_sweeper(alice, sandbox, settings):
    generation = answered_but_unrecorded(alice, sandbox)
    settings.SWEEP_STALE_SECONDS = 0
    assert services.sweep_stale_work()["answers_recorded"] == 1

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SAVING
    assert generation.images.count() == 2
    assert LedgerEntry.objects.filter(generation=generation, kind="charge").count() == 2
    assert sandbox.stats()["flux_requests"] == 1  # only the answer kept above: PixelDojo was not asked again


def test_an_answer_with_a_seed_no_column_holds_is_still_recorded(alice, sandbox, settings):
    generation = answered_but_unrecorded(alice, sandbox, seed=2**70)
    settings.SWEEP_STALE_SECONDS = 0
    services.sweep_stale_work()

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SAVING and generation.images.count() == 2
    assert generation.seed is None  # not a seed a 64-bit column holds: the generation does not claim one
    assert sandbox.stats()["flux_requests"] == 1


def test_a_kept_answer_that_cannot_be_read_fails_and_is_never_asked_again(alice, sandbox, settings):
    generation = answered_but_unrecorded(alice, sandbox)
    cut = generation.provider_answer[: len(generation.provider_answer) // 2]  # as a capped answer is kept
    Generation.objects.filter(id=generation.id).update(provider_answer=cut)
    settings.SWEEP_STALE_SECONDS = 0
    services.sweep_stale_work()

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED and generation.error_code == "answer_not_recorded"
    assert "may have charged your account" in generation.error_message
    assert "2 credits were recorded as spent" in generation.error_message
    assert generation.provider_answer == cut  # still there for operators
    assert not generation.images.exists()
    charges = LedgerEntry.objects.filter(generation=generation, kind="charge")
    assert [(entry.image_id, entry.credits) for entry in charges] == [(None, 2)]  # a 2xx: its price, once
    services.generation_run(generation_id=generation.id)
    assert sandbox.stats()["flux_requests"] == 1


def test_server_errors_are_retried_until_pixeldojo_answers(celery_worker, alice, sandbox):
    sandbox.configure(faults=FaultRates(server_error=1.0))
    generation = submit(alice)
    wait_for(lambda: sandbox.stats()["flux_by_status"].get("500", 0) >= 1, timeout=10)
    sandbox.configure(faults=FaultRates())
    wait_for(finished(generation), timeout=30)
    assert generation.status == Generation.Status.DONE
    assert generation.attempts >= 2
    assert LedgerEntry.objects.filter(generation=generation).count() == 1


def test_quota_exceeded_fails_with_a_clear_message_and_no_charge(celery_worker, alice, sandbox):
    sandbox.configure(keys={"sandbox-key": KeyPlan(quota=0)})
    generation = submit(alice)
    wait_for(finished(generation), timeout=15)
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == "quota_exceeded"
    assert "run out of credits" in generation.error_message
    assert not LedgerEntry.objects.exists()
    assert sandbox.stats()["flux_requests"] == 1  # not retried


def test_corrupt_download_fails_at_once_after_one_request(celery_worker, alice, sandbox, media_storage):
    sandbox.configure(faults=FaultRates(corrupt=1.0))  # a whole body that is not an image
    generation = submit(alice)
    wait_for(finished(generation), timeout=30)

    assert generation.status == Generation.Status.FAILED and generation.error_code == "images_lost"
    image = generation.images.get()
    assert image.status == Image.Status.FAILED and image.attempts == 1
    assert image.error_message == (
        "The file PixelDojo sent is not a valid PNG, JPEG or WebP image; it was not stored."
    )
    assert sandbox.stats()["image_requests"] == 1  # never fetched again: the same bytes would come back
    assert not media_storage.exists() or not any(p.is_file() for p in media_storage.rglob("*"))


def test_truncated_download_is_retried_and_stored_once(celery_worker, alice, sandbox, media_storage):
    sandbox.configure(faults=FaultRates(truncate=1.0))  # half the declared length, then the connection drops
    generation = submit(alice)

    def retrying():
        """the cut download is waiting to be tried again"""
        return generation.images.filter(error_message__contains="cut short").exists()

    wait_for(retrying, timeout=15)
    assert generation.images.get().status == Image.Status.PENDING
    sandbox.configure(faults=FaultRates())
    wait_for(finished(generation), timeout=30)

    assert generation.status == Generation.Status.DONE, generation.error_message
    image = generation.images.get()
    assert image.status == Image.Status.STORED and image.attempts >= 2 and image.error_message == ""
    assert sandbox.stats()["image_requests"] == image.attempts
    with default_storage.open(image.file.name, "rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == image.sha256


def test_expired_image_is_marked_not_dropped(alice, sandbox):
    generation = Generation.objects.create(
        user=alice, prompt="a fading dream", model="flux-pro", num_outputs=2
    )
    services.generation_run(generation_id=generation.id)
    sandbox.advance_clock(sandbox.config.retention_seconds)  # PixelDojo deletes the images after 24 h
    for image in generation.images.all():
        services.image_persist(image_id=image.id)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "before PixelDojo deleted them" in generation.error_message
    images = list(generation.images.all())
    assert len(images) == 2
    assert {image.status for image in images} == {Image.Status.EXPIRED}
    assert all("expired" in image.error_message for image in images)
    assert LedgerEntry.objects.filter(generation=generation).count() == 2  # PixelDojo charged for them


def test_image_past_retention_is_expired_without_fetching(alice, sandbox, settings):
    settings.PIXELDOJO_RETENTION_SECONDS = 0
    generation = Generation.objects.create(user=alice, prompt="too late", model="flux-pro")
    services.generation_run(generation_id=generation.id)
    before = sandbox.stats()["image_requests"]
    services.image_persist(image_id=generation.images.get().id)
    assert generation.images.get().status == Image.Status.EXPIRED
    assert sandbox.stats()["image_requests"] == before


def test_an_expired_image_says_how_long_pixeldojo_keeps_images_by_the_setting(alice, sandbox, settings):
    settings.PIXELDOJO_RETENTION_SECONDS = 90 * 60
    generation = Generation.objects.create(user=alice, prompt="too late", model="flux-pro")
    services.generation_run(generation_id=generation.id)
    two_hours_ago = timezone.now() - timedelta(hours=2)
    Generation.objects.filter(id=generation.id).update(provider_created_at=two_hours_ago)
    services.image_persist(image_id=generation.images.get().id)
    image = generation.images.get()
    assert image.status == Image.Status.EXPIRED
    assert image.error_message == (
        "PixelDojo deleted this image (its 90-minute link expired) before it could be saved."
    )


def test_running_tasks_twice_charges_and_stores_once(alice, sandbox, media_storage):
    generation = Generation.objects.create(user=alice, prompt="twice", model="flux-pro", num_outputs=2)
    services.generation_run(generation_id=generation.id)
    services.generation_run(generation_id=generation.id)  # a redelivered message
    assert sandbox.stats()["flux_requests"] == 1
    for image in generation.images.all():
        services.image_persist(image_id=image.id)
        services.image_persist(image_id=image.id)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.DONE
    assert generation.images.count() == 2
    assert LedgerEntry.objects.filter(generation=generation).count() == 2
    stored_files = sorted(p.name for p in (media_storage / "originals").rglob("*") if p.is_file())
    assert len(stored_files) == 2
