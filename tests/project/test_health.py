"""Probes: /healthz says the process answers; /readyz checks database, broker and storage, each timed."""

from __future__ import annotations

import threading

import pytest

from pixelgallery import health


def test_liveness_answers_ok_without_the_database_for_any_host_over_plain_http(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # as in production: probes still answer over plain HTTP
    settings.ALLOWED_HOSTS = ["example.com"]  # orchestrators call by address
    response = client.get("/healthz", HTTP_HOST="10.0.3.7:8000")  # no db mark: a query would fail the test
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert client.get("/accounts/login/", HTTP_HOST="example.com").status_code == 301  # pages do redirect


def test_probes_answer_only_get_and_head(client):
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200


@pytest.mark.django_db
def test_readiness_reports_each_dependency_ok_with_its_time(client, celery_app_configured, media_storage):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"database", "broker", "storage"}
    for result in body.values():
        assert result["ok"] is True and isinstance(result["ms"], float) and result["ms"] >= 0
    assert not list((media_storage / "readyz").glob("*")), "the probe file is deleted"


@pytest.mark.django_db
def test_readiness_fails_with_503_when_the_broker_is_down(client, celery_app_configured, monkeypatch):
    # Celery reads CELERY_BROKER_URL from the environment before app.conf.broker_url, and the test run
    # always sets it (tests/pytest_env.py): patching the variable alone is enough, and monkeypatch restores
    # it exactly. (Patching app.conf.broker_url as well would leave behind a setting that was never there.)
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    assert celery_app_configured.conf.broker_url == "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"]["ok"] is False and body["broker"]["error"]
    assert body["database"]["ok"] is True and body["storage"]["ok"] is True
    assert "127.0.0.1:1" not in response.content.decode(), "no configuration in the answer"


@pytest.mark.django_db
def test_a_dependency_that_hangs_fails_readiness_within_the_timeout(
    client, celery_app_configured, settings, monkeypatch
):
    settings.READYZ_TIMEOUT_SECONDS = 0.5
    release = threading.Event()
    monkeypatch.setattr(health, "check_storage", lambda: release.wait(30))  # hangs until the test ends
    try:
        response = client.get("/readyz")
    finally:
        release.set()
    assert response.status_code == 503
    assert response.json()["storage"] == {"ok": False, "error": "timeout", "ms": 500.0}
    assert response.json()["database"]["ok"] is True
