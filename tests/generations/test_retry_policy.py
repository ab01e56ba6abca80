"""Which PixelDojo failures are retried, how long we wait, and when we give up — against the sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from credits.models import LedgerEntry
from generations import services
from generations.models import Generation
from pixelgallery.moments import absolute_text
from sandbox.config import FaultRates, KeyPlan
from tests.generations.factories import make_generation

pytestmark = pytest.mark.django_db


def test_429_from_pixeldojo_is_retried_after_retry_after(alice, sandbox):
    sandbox.configure(keys={"sandbox-key": KeyPlan(rpm=1)})
    first, second = make_generation(alice), make_generation(alice)
    assert services.generation_run(generation_id=first.id) is None
    delay = services.generation_run(generation_id=second.id)
    assert delay is not None and 1 <= delay <= 62  # Retry-After (whole seconds) plus < 1 s of jitter
    second.refresh_from_db()
    assert second.status == Generation.Status.GENERATING and second.lease_until is None
    assert "busy" in second.error_message and second.attempts == 1


def test_server_errors_back_off_with_jitter_and_give_up_after_the_bound(alice, sandbox, settings):
    settings.PIXELDOJO_MAX_ATTEMPTS = 3
    sandbox.configure(faults=FaultRates(server_error=1.0))
    generation = make_generation(alice)
    delays = [services.generation_run(generation_id=generation.id) for _ in range(2)]
    assert all(d is not None and 1.0 <= d <= 1.0 + 2.0 * 2 ** (n) for n, d in enumerate(delays))
    assert services.generation_run(generation_id=generation.id) is None
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "did not answer after 3 tries" in generation.error_message
    assert sandbox.stats()["flux_requests"] == 3
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    ("fields", "key", "code", "phrase"),
    [
        ({}, "wrong-key", "invalid_api_key", "rejected the API key"),
        ({"model": "flux-9000"}, None, "model_not_found", "does not know this model"),
        ({"lora_weights": "https://example.com/l.safetensors"}, None, "invalid_request", "lora_weights"),
    ],
)
def test_permanent_errors_fail_at_once_with_a_clear_message(
    alice, sandbox, settings, fields, key, code, phrase
):
    if key:
        settings.PIXELDOJO_API_KEY = key
    generation = make_generation(alice, **fields)
    assert services.generation_run(generation_id=generation.id) is None
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Generation.Status.FAILED, code)
    assert phrase in generation.error_message
    assert sandbox.stats()["flux_requests"] == 1
    assert services.provider_pause_active() is None


def test_quota_exceeded_fails_and_pauses_submissions(alice, sandbox):
    sandbox.configure(keys={"sandbox-key": KeyPlan(quota=0)})
    generation, waiting = make_generation(alice), make_generation(alice)
    assert services.generation_run(generation_id=generation.id) is None
    generation.refresh_from_db()
    assert generation.error_code == "quota_exceeded" and generation.status == Generation.Status.FAILED
    pause = services.provider_pause_active()
    assert pause is not None and pause.paused_until > timezone.now() + timedelta(minutes=50)

    # Work already queued is not sent while paused: no request, a clear message.
    assert services.generation_run(generation_id=waiting.id) is None
    waiting.refresh_from_db()
    assert waiting.status == Generation.Status.FAILED and "Not sent" in waiting.error_message
    assert f"exhausted at {absolute_text(pause.paused_at)}." in waiting.error_message  # the site's one format
    assert sandbox.stats()["flux_requests"] == 1

    with pytest.raises(services.SubmissionRefused, match="paused") as refused:
        services.generation_submit(user=alice, params=generation.to_request())
    assert f"It resumes at {absolute_text(pause.paused_until)} or" in str(refused.value)


def test_pause_ends_by_itself_after_the_set_time(alice, sandbox, settings):
    settings.PIXELDOJO_QUOTA_PAUSE_SECONDS = 60
    pause = services.provider_pause_start(code="quota_exceeded", message="out of credits")
    assert services.provider_pause_active() == pause
    type(pause).objects.filter(id=pause.id).update(paused_until=timezone.now() - timedelta(seconds=1))
    assert services.provider_pause_active() is None


def test_a_held_lease_keeps_a_second_worker_from_calling_pixeldojo(alice, sandbox):
    generation = make_generation(alice, status=Generation.Status.GENERATING)
    Generation.objects.filter(id=generation.id).update(lease_until=timezone.now() + timedelta(seconds=30))
    delay = services.generation_run(generation_id=generation.id)
    assert delay is not None and 25 < delay <= 30
    assert sandbox.stats()["flux_requests"] == 0
    Generation.objects.filter(id=generation.id).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert services.generation_run(generation_id=generation.id) is None  # the lease ran out: work resumes
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SAVING and sandbox.stats()["flux_requests"] == 1


def test_rate_limiter_defers_instead_of_calling(alice, sandbox, settings):
    settings.PIXELDOJO_RATE_LIMIT_RPM = 1
    first, second = make_generation(alice), make_generation(alice)
    settings.PIXELDOJO_RATE_WAIT_MAX_SECONDS = 0.5
    assert services.generation_run(generation_id=first.id) is None
    delay = services.generation_run(generation_id=second.id)
    assert delay is not None and 55 < delay <= 61
    second.refresh_from_db()
    assert second.status == Generation.Status.QUEUED and second.attempts == 0  # waiting costs no try
    assert sandbox.stats()["flux_requests"] == 1
