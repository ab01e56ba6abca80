"""An Idempotency-Key is remembered for API_IDEMPOTENCY_KEY_HOURS, like Stripe's: then it is new again and
the hourly beat task deletes it, so the table does not grow forever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from api.models import IdempotencyKey
from api.tasks import forget_old_idempotency_keys
from generations.models import Generation
from tests.api.helpers import api_client, token_for

pytestmark = pytest.mark.django_db

SUBMISSION = {"prompt": "a lighthouse on a cliff", "model": "flux-pro", "num_outputs": 1}


def _post(client, body, key="nightly-1"):
    return client.post(
        "/api/v1/generations", body, content_type="application/json", headers={"Idempotency-Key": key}
    )


def _age(hours: float) -> None:
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=hours))


def test_a_key_answers_within_its_window_and_is_new_again_after_it(alice):
    client = api_client(token_for(alice))
    first = _post(client, SUBMISSION)
    _age(settings.API_IDEMPOTENCY_KEY_HOURS - 0.5)
    assert _post(client, SUBMISSION).json()["code"] == first.json()["code"]
    assert _post(client, {**SUBMISSION, "prompt": "other"}).status_code == 409
    _age(settings.API_IDEMPOTENCY_KEY_HOURS + 0.5)
    later = _post(client, {**SUBMISSION, "prompt": "other"})
    assert later.status_code == 202 and later.json()["code"] != first.json()["code"]
    assert Generation.objects.count() == 2
    row = IdempotencyKey.objects.get()  # the old row made way for the new one
    assert str(row.generation.code) == later.json()["code"]


def test_the_beat_task_forgets_only_keys_past_their_window(alice):
    client = api_client(token_for(alice))
    _post(client, SUBMISSION, key="old")
    _age(settings.API_IDEMPOTENCY_KEY_HOURS + 1)
    _post(client, SUBMISSION, key="fresh")
    assert forget_old_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    assert Generation.objects.count() == 2  # the generations stay: only the keys go
    schedule = settings.CELERY_BEAT_SCHEDULE["forget-old-idempotency-keys"]
    assert schedule["task"] == forget_old_idempotency_keys.name and schedule["schedule"] <= 3600
