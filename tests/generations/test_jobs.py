"""Catalogue models through PixelDojo's job API, end to end: the sandbox over HTTP, real Celery workers,
real files. A job is submitted once (its id kept with its charge before anything else), polled with back-off
until it ends, and its outcome recorded once: images stored, failed ones refunded in the ledger. A restarted
worker (or a lost message) resumes polling the stored id; PixelDojo's completion webhook only polls sooner."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from credits.models import LedgerEntry
from generations import services
from generations.models import Generation, Image
from generations.pixeldojo import parse_job
from generations.services import jobs
from tests.conftest import CELERY_APP, purge_queues, running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

FLEX_2MP_TWO = {"prompt": "a lighthouse in a storm", "resolution": "2 MP", "num_outputs": 2}


@pytest.fixture
def catalogue(sandbox, settings):
    """The sandbox's catalogue, fetched over HTTP and stored; jobs polled quickly."""
    settings.PIXELDOJO_JOB_POLL_SECONDS = 0.2
    settings.PIXELDOJO_JOB_POLL_MAX_SECONDS = 1.0
    refresh = services.catalogue_refresh()
    assert refresh.ok, refresh.message
    return sandbox


def submit(user, model: str = "flux-2-flex", **payload) -> Generation:
    return services.catalogue_generation_submit(user=user, model=model, payload=payload or dict(FLEX_2MP_TWO))


def finished(generation: Generation):
    def check():
        """the generation reaches a final state"""
        generation.refresh_from_db()
        return generation.status in (Generation.Status.DONE, Generation.Status.FAILED)

    return check


def ledger(generation: Generation) -> D:
    return LedgerEntry.objects.filter(generation=generation).aggregate(total=Sum("credits"))["total"]


def test_a_catalogue_model_runs_as_one_job_polled_to_completion_and_charged_its_catalogue_cost(
    catalogue, celery_worker, alice
):
    generation = submit(alice)
    assert generation.price == 6  # flux-2-flex at 2 MP costs 3 a picture
    wait_for(finished(generation), timeout=30)

    stats = catalogue.stats()
    assert generation.status == Generation.Status.DONE, generation.error_message
    assert (stats["run_requests"], stats["flux_requests"]) == (1, 0)
    assert stats["job_polls"] >= 1
    assert stats["credits_charged"] == {"sandbox-key": 6}
    images = list(generation.images.order_by("index"))
    assert [image.status for image in images] == [Image.Status.STORED] * 2
    assert all(image.file.storage.exists(image.file.name) for image in images)
    assert all("/generated/" in image.provider_url for image in images)
    assert generation.provider_id.startswith("job_") and generation.job_status == "completed"
    assert ledger(generation) == 6
    assert LedgerEntry.objects.filter(generation=generation, kind="refund").count() == 0


def test_a_failed_image_of_a_job_is_refunded_and_the_others_stored(catalogue, celery_worker, alice):
    catalogue.configure(faults={"asset_failed": 0.5}, fault_seed=7)
    generation = submit(alice, model="flux-dev", prompt="a quiet harbour", num_outputs=4)
    wait_for(finished(generation), timeout=30)

    stored = generation.images.filter(status=Image.Status.STORED).count()
    refunds = LedgerEntry.objects.filter(generation=generation, kind="refund")
    assert 0 < stored < 4, "this fault seed fails some of the four images, not all"
    assert generation.status == Generation.Status.DONE
    assert refunds.count() == 4 - stored  # one refund row per failed image
    assert ledger(generation) == stored  # flux-dev costs 1 a picture
    assert catalogue.stats()["credits_charged"] == {"sandbox-key": stored}


def test_a_failed_job_is_refunded_in_full_and_says_why(catalogue, celery_worker, alice):
    catalogue.configure(faults={"job_failed": 1.0})
    generation = submit(alice)
    wait_for(finished(generation), timeout=30)

    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == "job_failed"
    assert "PixelDojo's job failed: The model failed to generate" in generation.error_message
    assert "6 credits were refunded" in generation.error_message
    assert ledger(generation) == 0
    assert LedgerEntry.objects.filter(generation=generation, kind="charge").get().credits == 6
    assert catalogue.stats()["run_requests"] == 1


@pytest.mark.parametrize("style", ["images", "output"])
def test_outputs_are_read_from_images_or_output_too(catalogue, celery_worker, alice, style):
    catalogue.configure(job_output_style=style, job_submit_style="nested")
    generation = submit(alice, prompt="a red kite", resolution="0.5 MP", num_outputs=1)
    wait_for(finished(generation), timeout=30)
    assert generation.status == Generation.Status.DONE, generation.error_message
    assert generation.images.get().status == Image.Status.STORED
    assert ledger(generation) == 1


def test_an_unreadable_job_answer_is_charged_once_and_never_submitted_again(catalogue, celery_worker, alice):
    catalogue.configure(faults={"html_200": 1.0})
    generation = submit(alice)
    wait_for(finished(generation), timeout=30)

    assert generation.status == Generation.Status.FAILED
    assert "<html>" in generation.provider_answer and "sandbox-key" not in generation.provider_answer
    assert ledger(generation) == 6
    services.generation_run(generation_id=generation.id)
    assert catalogue.stats()["run_requests"] == 1


def test_a_restarted_worker_resumes_polling_the_stored_job_and_never_submits_it_again(
    catalogue, alice, settings
):
    """No worker at first: the job is submitted inline, its poll message is lost (the queues purged, as a
    broker restart would), and a second run of the submission does nothing. The sweeper finds the overdue
    poll and a worker started afterwards finishes the job."""
    purge_queues(CELERY_APP)
    generation = submit(alice)
    assert services.generation_run(generation_id=generation.id) is None
    generation.refresh_from_db()
    job_id = generation.provider_id
    assert job_id and generation.job_status == "pending"
    assert LedgerEntry.objects.get(generation=generation).credits == 6  # kept with its charge, at once
    purge_queues(CELERY_APP)  # the scheduled poll is lost

    assert services.generation_run(generation_id=generation.id) is None  # a redelivered submission
    assert catalogue.stats()["run_requests"] == 1

    long_ago = timezone.now() - timedelta(seconds=settings.SWEEP_STALE_SECONDS + 60)
    Generation.objects.filter(id=generation.id).update(job_next_poll_at=long_ago)
    assert services.sweep_stale_work()["jobs_polled"] == 1

    with running_worker(CELERY_APP, list(CELERY_APP.conf.task_queues)):
        wait_for(finished(generation), timeout=30)
    purge_queues(CELERY_APP)
    assert generation.status == Generation.Status.DONE, generation.error_message
    assert generation.provider_id == job_id
    assert catalogue.stats()["run_requests"] == 1
    assert generation.images.filter(status=Image.Status.STORED).count() == 2
    assert ledger(generation) == 6


def test_polling_obeys_retry_after_and_backs_off(catalogue, alice):
    purge_queues(CELERY_APP)
    generation = submit(alice)
    services.generation_run(generation_id=generation.id)
    catalogue.configure(faults={"poll_rate_limit": 1.0})
    assert jobs.job_poll(generation_id=generation.id, polls=0) >= 1.0  # Retry-After: 1
    catalogue.configure(faults={"poll_rate_limit": 0.0})
    assert jobs.job_poll(generation_id=generation.id, polls=0) is None  # that poll is taken: chain ends
    delays = [jobs.job_poll_delay(polls) for polls in (1, 2, 3, 4, 10)]
    assert delays[0] < delays[1] < delays[2] < delays[3] <= 1.0 * 1.1  # grows, up to the maximum
    purge_queues(CELERY_APP)


def test_the_completion_webhook_polls_at_once_and_its_payload_is_never_trusted(
    catalogue, alice, settings, live_server
):
    purge_queues(CELERY_APP)
    settings.PIXELDOJO_JOB_WEBHOOK_SECRET = "hook-secret-for-tests"
    settings.PIXELDOJO_JOB_POLL_SECONDS = 600  # without the hook, no poll for ten minutes
    catalogue.configure(job_pending_seconds=3600)  # the job stays pending at PixelDojo
    generation = submit(alice)
    services.generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    hook = "/hooks/pixeldojo/hook-secret-for-tests/"
    forged = {
        "event": "job.completed",
        "jobId": generation.provider_id,
        "status": "completed",
        "assets": [{"url": "http://127.0.0.1:9/evil.png", "status": "completed"}],
    }
    client = Client()
    assert client.post("/hooks/pixeldojo/wrong/", forged, content_type="application/json").status_code == 404
    assert client.post(hook, "not json", content_type="application/json").status_code == 202
    polls_before = catalogue.stats()["job_polls"]
    assert client.post(hook, forged, content_type="application/json").status_code == 202
    with running_worker_on_all_queues():
        wait_for(lambda: catalogue.stats()["job_polls"] > polls_before, timeout=15)
        generation.refresh_from_db()
        assert generation.status == Generation.Status.GENERATING  # PixelDojo says pending: still waiting
        assert generation.images.count() == 0

        # Now the job really finishes at PixelDojo, which calls the hook: the poll records it at once.
        catalogue.configure(job_pending_seconds=0, job_webhook_url=f"{live_server.url}{hook}")
        catalogue.advance_clock(3700)  # past pending (3600 s) and processing
        started = timezone.now()
        response = _replay(catalogue, generation.provider_id)
        assert response.status_code == 200, response.text
        wait_for(finished(generation), timeout=20)
    purge_queues(CELERY_APP)
    assert generation.status == Generation.Status.DONE, generation.error_message
    assert (generation.finished_at - started).total_seconds() < 15  # not the ten-minute poll
    assert {image.provider_url.startswith("http://127.0.0.1:9") for image in generation.images.all()} == {
        False
    }
    assert any(delivery["status"] == 202 for delivery in catalogue.stats()["webhooks"])


def _replay(sandbox, job_id: str):
    import requests

    return requests.post(
        f"{sandbox.base_url}/jobs/{job_id}/webhook/replay",
        headers={"Authorization": "Bearer sandbox-key"},
        timeout=10,
    )


def running_worker_on_all_queues():
    return running_worker(CELERY_APP, list(CELERY_APP.conf.task_queues))


@pytest.mark.parametrize(
    ("body", "status", "urls", "failed"),
    [
        (
            {"status": "succeeded", "assets": [{"url": "https://a/1.png"}]},
            "completed",
            ["https://a/1.png"],
            0,
        ),
        ({"job": {"status": "COMPLETED", "output": "https://a/1.png"}}, "completed", ["https://a/1.png"], 0),
        (
            {"data": {"status": "done", "images": [{"url": "https://a/1.png", "seed": 4}]}},
            "completed",
            ["https://a/1.png"],
            0,
        ),
        (
            {
                "status": "completed",
                "assets": [{"url": "https://a/1.png"}, {"url": None, "status": "failed"}],
            },
            "completed",
            ["https://a/1.png"],
            1,
        ),
        ({"status": "running", "assets": [{"url": "https://a/1.png"}]}, "processing", [], 0),
        ({"status": "something new"}, "processing", [], 0),
        (
            {"status": "canceled", "error": {"message": "key sk_live_abcdefghijklmnop1234 revoked"}},
            "failed",
            [],
            0,
        ),
    ],
)
def test_job_answers_are_read_tolerantly(body, status, urls, failed):
    job = parse_job(body)
    assert (job.status, [url for url, _ in job.outputs], job.failed_assets) == (status, urls, failed)
    assert "sk_live" not in job.error


def test_a_poll_refused_for_a_reason_an_operator_can_fix_keeps_the_paid_job_waiting(
    catalogue, alice, settings
):
    purge_queues(CELERY_APP)
    generation = submit(alice)
    services.generation_run(generation_id=generation.id)
    settings.PIXELDOJO_API_KEY = "a-key-someone-revoked"  # 401 on every poll until an operator fixes it
    assert jobs.job_poll(generation_id=generation.id, polls=0) > 0
    generation.refresh_from_db()
    assert (generation.status, generation.job_status) == (Generation.Status.GENERATING, "pending")

    Generation.objects.filter(id=generation.id).update(provider_id="job_unknown_to_pixeldojo")
    settings.PIXELDOJO_API_KEY = "sandbox-key"
    assert jobs.job_poll(generation_id=generation.id, polls=1) is None  # 404: the job is gone
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "It was charged when it was accepted; an operator can refund it." in generation.error_message
    assert ledger(generation) == 6  # PixelDojo was paid; nothing is refunded on a guess
    purge_queues(CELERY_APP)
