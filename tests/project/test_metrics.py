"""/metrics: Prometheus text with HTTP, generation, image, credit, queue and task metrics."""

from __future__ import annotations

import math
import os
import uuid

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from credits.models import LedgerEntry
from generations import services
from generations.metrics import GenerationsCollector
from generations.models import Generation, Image
from generations.pixeldojo import GenerationRequest
from pixelgallery import metrics
from tests.conftest import wait_for
from tests.generations.factories import make_generation, make_stored_image

FAMILIES = {
    "pixelgallery_http_requests",
    "pixelgallery_http_request_duration_seconds",
    "pixelgallery_celery_task_duration_seconds",
    "pixelgallery_generations",
    "pixelgallery_images",
    "pixelgallery_images_stored_bytes",
    "pixelgallery_credits_spent",
    "pixelgallery_celery_queue_length",
}


METRICS_TOKEN = "scrape-token-0123456789"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    """As in production (DEBUG off): /metrics is served only to a scraper with the token."""
    settings.METRICS_TOKEN = METRICS_TOKEN


def scrape(client, **headers) -> dict[str, dict[tuple, float]]:
    """``{family: {(sample name, sorted labels): value}}`` from one scrape (with the token by default)."""
    headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {METRICS_TOKEN}")
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    families = {}
    for family in text_string_to_metric_families(response.content.decode()):
        families[family.name] = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value for sample in family.samples
        }
    return families


def value(families, family: str, sample: str | None = None, **labels) -> float:
    return families[family][(sample or family, tuple(sorted(labels.items())))]


@pytest.mark.django_db
def test_scrape_has_every_family_and_database_values_reflect_the_rows(client, alice):
    done = make_generation(alice, status=Generation.Status.DONE)
    make_generation(alice, status=Generation.Status.DONE)
    make_generation(alice, status=Generation.Status.FAILED)
    for index in range(3):
        image = make_stored_image(done, index=index)
        Image.objects.filter(id=image.id).update(size_bytes=1000)
        LedgerEntry.objects.create(user=alice, generation=done, image=image, model="flux-pro", credits=1)
    LedgerEntry.objects.create(user=alice, kind=LedgerEntry.Kind.REFUND, credits=-1, note="sorry")
    LedgerEntry.objects.create(user=alice, kind=LedgerEntry.Kind.TOP_UP, credits=500, note="not spend")

    families = scrape(client)

    assert set(families) >= FAMILIES, FAMILIES - set(families)
    assert value(families, "pixelgallery_generations", status="done") == 2
    assert value(families, "pixelgallery_generations", status="failed") == 1
    assert value(families, "pixelgallery_generations", status="queued") == 0
    assert value(families, "pixelgallery_images", status="stored") == 3
    assert value(families, "pixelgallery_images", status="expired") == 0
    assert value(families, "pixelgallery_images_stored_bytes") == 3000
    assert value(families, "pixelgallery_credits_spent") == 2  # 3 charges, 1 refund; top-ups are not spend
    queues = {dict(labels)["queue"] for _, labels in families["pixelgallery_celery_queue_length"]}
    assert {"celery", "pixeldojo", "downloads"} <= queues


@pytest.mark.django_db
def test_http_requests_are_counted_by_method_and_status(client):
    before = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page/")
    after = scrape(client)

    def count(families, status):
        key = ("pixelgallery_http_requests_total", (("method", "GET"), ("status", status)))
        return families["pixelgallery_http_requests"].get(key, 0)

    assert count(after, "200") - count(before, "200") == 3  # two probes and the first scrape
    assert count(after, "404") - count(before, "404") == 1
    latency = after["pixelgallery_http_request_duration_seconds"]
    assert latency[("pixelgallery_http_request_duration_seconds_count", (("method", "GET"),))] >= 4


def test_a_metrics_token_is_required(client, db):
    denied = client.get("/metrics")
    assert denied.status_code == 401 and denied["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 401
    assert "pixelgallery_generations" in scrape(client, HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")


def test_without_a_token_metrics_are_refused_unless_debug_is_on(client, settings, db):
    settings.METRICS_TOKEN = ""
    assert settings.DEBUG is False
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer "}, {"HTTP_AUTHORIZATION": "Bearer anything"}):
        refused = client.get("/metrics", **headers)
        assert refused.status_code == 403, headers
        assert b"set METRICS_TOKEN" in refused.content and b"pixelgallery_" not in refused.content
    settings.DEBUG = True  # development: open without a token
    assert "pixelgallery_generations" in scrape(client, HTTP_AUTHORIZATION="")


@pytest.mark.django_db
def test_a_failing_collector_leaves_its_metrics_out_instead_of_failing_the_scrape(client, monkeypatch):
    def broken(self):
        raise RuntimeError("database gone")

    monkeypatch.setattr(GenerationsCollector, "collect", broken)
    families = scrape(client)
    assert "pixelgallery_generations" not in families and "pixelgallery_http_requests" in families
    assert "pixelgallery_credits_spent" in families  # another app's collector still answers


REDIS_BROKER = os.environ.get("CELERY_BROKER_URL", "")


@pytest.mark.skipif(not REDIS_BROKER.startswith("redis://"), reason="the broker is not Redis here")
def test_queue_length_counts_every_priority_list_of_a_redis_queue():
    queue = f"pixelgallery-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_BROKER)
    try:
        client.rpush(queue, "a", "b")
        client.rpush(f"{queue}{metrics.REDIS_PRIORITY_SEPARATOR}6", "c")
        lengths = metrics.redis_queue_lengths(REDIS_BROKER, [queue, f"{queue}-empty"])
    finally:
        client.delete(queue, f"{queue}{metrics.REDIS_PRIORITY_SEPARATOR}6")
    assert lengths == {queue: 3, f"{queue}-empty": 0}


def test_queue_length_is_unknown_when_the_broker_is_not_redis(celery_app_configured, monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")  # Celery reads it before app.conf.broker_url
    assert celery_app_configured.conf.broker_url == "memory://"
    (family,) = metrics.QueueCollector().collect()
    assert family.samples and all(math.isnan(sample.value) for sample in family.samples)


@pytest.mark.django_db(transaction=True)
def test_task_durations_are_observed_by_the_worker(celery_worker, alice, client):
    def runs() -> float:
        families = scrape(client)["pixelgallery_celery_task_duration_seconds"]
        key = (
            "pixelgallery_celery_task_duration_seconds_count",
            (("state", "SUCCESS"), ("task", "generations.tasks.persist_image")),
        )
        return families.get(key, 0)

    before = runs()
    params = GenerationRequest(prompt="a fox in the snow", model="flux-pro", num_outputs=2)
    generation = services.generation_submit(user=alice, params=params)

    def stored():
        """both images stored and their tasks finished"""
        generation.refresh_from_db()
        return generation.status == Generation.Status.DONE and runs() - before >= 2

    wait_for(stored, timeout=30)


def test_a_worker_can_serve_its_own_task_metrics(monkeypatch):
    """Workers in another container than web: WORKER_METRICS_PORT starts an exporter in the worker."""
    assert metrics.start_worker_exporter() is None  # off unless asked for
    monkeypatch.setenv("WORKER_METRICS_PORT", "0")  # any free port
    monkeypatch.setenv("WORKER_METRICS_ADDRESS", "127.0.0.1")
    metrics.task_duration.labels(task="tests.exporter", state="SUCCESS").observe(0.2)
    server = metrics.start_worker_exporter()
    try:
        text = requests.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()
    assert 'pixelgallery_celery_task_duration_seconds_count{state="SUCCESS",task="tests.exporter"}' in text
