"""Two POSTs with one Idempotency-Key at the same moment (PostgreSQL): one generation, one PixelDojo call
queued, both answered with it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from api.models import ApiToken, IdempotencyKey
from api.services import api_generation_submit, token_create
from generations.models import Generation
from generations.pixeldojo import GenerationRequest
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db(transaction=True)

ATTEMPTS = 6


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises writers: no race to test")
def test_concurrent_retries_with_one_key_make_one_generation(alice, celery_app_configured):
    from tests.conftest import purge_queues

    team = make_team(alice, name="Studio")
    token = token_create(user=alice, name="race", scopes=["generate"], team=team).token
    params = GenerationRequest(prompt="a race", model="flux-pro", aspect_ratio="1:1", num_outputs=1)
    barrier = threading.Barrier(ATTEMPTS)
    codes: list[str] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            fresh = ApiToken.objects.select_related("user", "team").get(pk=token.pk)
            barrier.wait()
            generation, _ = api_generation_submit(token=fresh, params=params, idempotency_key="same")
            codes.append(str(generation.code))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    purge_queues(celery_app_configured)
    assert errors == []
    assert len(codes) == ATTEMPTS and len(set(codes)) == 1
    assert Generation.objects.count() == 1 and IdempotencyKey.objects.count() == 1
