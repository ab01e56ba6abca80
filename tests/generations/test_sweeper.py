"""The sweeper: lost messages and dead workers never leave work pending forever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from generations import services
from generations.models import Generation, Image
from tests.conftest import wait_for
from tests.generations.factories import make_generation

pytestmark = pytest.mark.django_db(transaction=True)


def age(model, obj_id: int, seconds: int) -> None:
    """Pretend nothing touched the row for ``seconds`` (as when its message was lost)."""
    model.objects.filter(id=obj_id).update(updated_at=timezone.now() - timedelta(seconds=seconds))


def test_queued_generation_whose_message_was_lost_is_requeued_and_finished(celery_worker, alice, settings):
    generation = make_generation(alice, num_outputs=2)  # created without enqueueing: the message is "lost"
    age(Generation, generation.id, settings.SWEEP_STALE_SECONDS + 1)
    assert services.sweep_stale_work()["generations_requeued"] == 1

    def done():
        """the requeued generation is stored"""
        generation.refresh_from_db()
        return generation.status == Generation.Status.DONE

    wait_for(done, timeout=30)
    assert generation.images.filter(status=Image.Status.STORED).count() == 2


def test_pending_image_is_requeued_and_stored(celery_worker, alice, settings):
    generation = make_generation(alice)
    services.generation_run(generation_id=generation.id)  # enqueues the download...
    image = generation.images.get()
    wait_for(lambda: Image.objects.get(id=image.id).status == Image.Status.STORED, timeout=20)
    Image.objects.filter(id=image.id).update(status=Image.Status.PENDING, file="", thumbnail="")
    Generation.objects.filter(id=generation.id).update(status=Generation.Status.SAVING)
    age(Image, image.id, settings.SWEEP_STALE_SECONDS + 1)  # ...as if that message had been lost

    assert services.sweep_stale_work()["images_requeued"] == 1

    def settled():
        """the image is stored again and its generation settled as done (a statement after the image's)"""
        generation.refresh_from_db()
        return Image.objects.get(id=image.id).status == Image.Status.STORED and generation.status == "done"

    wait_for(settled, timeout=20)


def test_fresh_work_is_left_alone(alice, sandbox):
    generation = make_generation(alice)
    assert services.sweep_stale_work() == {
        "images_requeued": 0,
        "images_expired": 0,
        "generations_requeued": 0,
        "answers_recorded": 0,
        "generations_settled": 0,
        "waiting_images_requeued": 0,
        "waiting_images_expired": 0,
        "host_emails_sent": 0,
        "jobs_polled": 0,
    }
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED


def test_unsaved_image_past_24_hours_is_marked_expired(alice, sandbox, settings):
    generation = make_generation(alice)
    services.generation_run(generation_id=generation.id)
    image = generation.images.get()
    Generation.objects.filter(id=generation.id).update(
        provider_created_at=timezone.now() - timedelta(seconds=settings.PIXELDOJO_RETENTION_SECONDS + 60)
    )
    age(Image, image.id, settings.SWEEP_STALE_SECONDS + 1)
    assert services.sweep_stale_work()["images_expired"] == 1
    image.refresh_from_db()
    generation.refresh_from_db()
    assert image.status == Image.Status.EXPIRED and "expired" in image.error_message
    assert generation.status == Generation.Status.FAILED


def test_generation_stuck_in_saving_is_settled(alice, sandbox, settings):
    generation = make_generation(alice, status=Generation.Status.SAVING)
    Image.objects.create(
        generation=generation, user=generation.user, index=0, provider_url="http://x/1.png", status="stored"
    )
    age(Generation, generation.id, settings.SWEEP_STALE_SECONDS + 1)
    assert services.sweep_stale_work()["generations_settled"] == 1
    generation.refresh_from_db()
    assert generation.status == Generation.Status.DONE


def test_sweep_is_scheduled_by_beat(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["sweep-stale-work"]
    assert schedule["task"] == "generations.tasks.sweep_stale_work"
    assert schedule["schedule"] <= 120
