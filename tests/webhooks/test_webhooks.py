"""Outgoing webhooks end to end: a real receiving HTTP server on loopback, a real Celery worker on the
``webhooks`` queue, signatures checked with the ``standardwebhooks`` package."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.core import mail
from django.test import Client
from django.urls import reverse
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from credits.services import budget_set, ledger_charge_images
from generations.pixeldojo import GenerationRequest
from generations.services import generation_fail, generation_settle, generation_submit, provider_pause_start
from pixelgallery.checks import webhook_hosts_loopback_check
from teams.models import Membership, Team
from teams.services import team_delete
from tests.conftest import PASSWORD, purge_queues, running_worker, wait_for
from tests.generations.factories import make_generation, make_stored_image
from tests.webhooks.receiver import Receiver, running_receiver
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.sending import new_secret, signed_headers

ALL_EVENTS = ["generation.completed", "generation.failed", "budget.threshold", "quota.paused"]


@pytest.fixture
def webhook_settings(settings):
    settings.WEBHOOK_HOSTS_LOOPBACK_OK = ["127.0.0.1"]
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.3
    settings.WEBHOOK_TIMEOUT_SECONDS = 5.0
    return settings


@pytest.fixture
def webhook_worker(celery_app_configured, transactional_db, webhook_settings) -> Iterator[object]:
    """A real Celery worker consuming only the ``webhooks`` queue."""
    purge_queues(celery_app_configured)
    with running_worker(celery_app_configured, ["webhooks"]) as worker:
        yield worker
    purge_queues(celery_app_configured)


@pytest.fixture
def team(django_user_model, transactional_db) -> Team:
    owner = django_user_model.objects.create_user("owner", "owner@example.com", PASSWORD)
    team = Team.objects.create(name="Hook Studio", created_by=owner)
    Membership.objects.create(team=team, user=owner, role="owner")
    for role in ("admin", "member", "viewer"):
        user = django_user_model.objects.create_user(role, f"{role}@example.com", PASSWORD)
        Membership.objects.create(team=team, user=user, role=role)
    return team


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def admin_client(team: Team) -> Client:
    client = Client()
    client.force_login(team.memberships.get(role="admin").user)
    return client


def register(team: Team, url: str, events: list[str] = ALL_EVENTS) -> WebhookEndpoint:
    """Register an endpoint through the page, as a team admin does."""
    response = admin_client(team).post(
        reverse("webhooks:list", kwargs={"code": team.code}),
        {"url": url, "description": "CI", "event_types": events},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return WebhookEndpoint.objects.get(team=team, url=url)


def endpoint_page(team: Team, endpoint: WebhookEndpoint):
    return admin_client(team).get(
        reverse("webhooks:detail", kwargs={"code": team.code, "endpoint": endpoint.code})
    )


def verified(endpoint: WebhookEndpoint, received) -> dict:
    """The message, once ``standardwebhooks`` has checked its signature with the endpoint's secret."""
    return Webhook(endpoint.secret).verify(received.body, received.headers)


def completed_generation(team: Team):
    generation = make_generation(team.created_by, team=team, status="saving")
    make_stored_image(generation)
    generation_settle(generation_id=generation.id)
    return generation


def test_a_completed_generation_is_delivered_signed_and_logged(webhook_worker, team, receiver):
    endpoint = register(team, receiver.url)
    generation = completed_generation(team)

    wait_for(lambda: receiver.requests(), timeout=15)
    [got] = receiver.requests()
    message = verified(endpoint, got)
    assert message["type"] == "generation.completed"
    assert message["data"]["generation"] == str(generation.code) and message["data"]["status"] == "done"
    assert got.headers["webhook-id"].startswith("msg_") and got.headers["Content-Type"] == "application/json"
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").first())
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code == 200 and attempt.succeeded and attempt.response_ms is not None

    page = admin_client(team).get(
        reverse("webhooks:detail", kwargs={"code": team.code, "endpoint": endpoint.code})
    )
    text = page.content.decode()
    assert page.status_code == 200 and "HTTP 200" in text and delivery.message_id in text
    assert f"in {attempt.response_ms} ms" in text


def test_a_tampered_body_fails_verification(webhook_worker, team, receiver):
    endpoint = register(team, receiver.url)
    completed_generation(team)
    [got] = wait_for(lambda: receiver.requests(), timeout=15)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(got.body.replace(b"done", b"gone"), got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(got.body, got.headers)


def test_each_event_reaches_only_the_endpoints_that_asked_for_it(webhook_worker, team, receiver):
    with running_receiver() as other:
        endpoint = register(team, receiver.url)
        only_failures = register(team, other.url, ["generation.failed"])
        generation_fail(generation_id=make_generation(team.created_by, team=team).id, code="x", message="No.")
        budget_set(actor=team.created_by, team=team, monthly_credits=10)
        generation = make_generation(team.created_by, team=team, status="done")
        ledger_charge_images(generation=generation, images=[make_stored_image(generation)], credits=9)
        provider_pause_start(code="quota_exceeded", message="Out of credits.")
        make_generation(team.created_by)  # personal work: no team, no webhook
        generation_fail(generation_id=make_generation(team.created_by).id, code="x", message="Personal.")

        wait_for(lambda: len(receiver.requests()) == 3 and len(other.requests()) == 1, timeout=15)
        types = sorted(verified(endpoint, got)["type"] for got in receiver.requests())
        assert types == ["budget.threshold", "generation.failed", "quota.paused"]
        [failed] = other.requests()
        assert verified(only_failures, failed)["data"]["error_message"] == "No."
        budget = next(
            m for m in map(lambda g: verified(endpoint, g), receiver.requests()) if "threshold" in m["type"]
        )
        assert budget["data"] == {
            "team": str(team.code),
            "member": None,
            "threshold_percent": 80,
            "spent": "9",
            "monthly_credits": "10",
            "month": budget["data"]["month"],
        }


def test_5xx_answers_are_retried_with_doubling_pauses_under_one_message_id(webhook_worker, team, receiver):
    receiver.answer(500, 503)
    endpoint = register(team, receiver.url)
    completed_generation(team)

    wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").exists(), timeout=20)
    first, second, third = receiver.requests()
    assert len({got.headers["webhook-id"] for got in (first, second, third)}) == 1
    for got in (first, second, third):
        assert verified(endpoint, got)["type"] == "generation.completed"
    assert second.at - first.at >= 0.3 and third.at - second.at >= 0.6  # 0.3 s, then twice that
    statuses = sorted(WebhookAttempt.objects.values_list("status_code", flat=True))
    assert statuses == [200, 500, 503]
    assert WebhookDelivery.objects.get().attempts == 3
    assert WebhookEndpoint.objects.get().consecutive_failures == 0  # the success starts the count again


def test_retries_stop_when_the_window_is_over(webhook_worker, team, settings):
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 1.6  # attempts at ~0, 0.3, 0.9 s; the next (2.1 s) is past it
    with running_receiver(always=502) as failing:
        register(team, failing.url)
        completed_generation(team)
        wait_for(lambda: WebhookDelivery.objects.filter(status="failed").exists(), timeout=20)
        assert len(failing.requests()) == 3 and WebhookDelivery.objects.get().attempts == 3
        assert WebhookEndpoint.objects.get().is_active  # 3 failures are not enough to disable it


def test_an_endpoint_failing_n_times_is_disabled_and_the_admins_emailed_once(webhook_worker, team, settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.1
    mail.outbox.clear()
    with running_receiver(always=500) as failing:
        endpoint = register(team, failing.url)
        completed_generation(team)
        completed_generation(team)  # two deliveries fail together: still one e-mail
        wait_for(lambda: not WebhookEndpoint.objects.get().is_active, timeout=20)
        wait_for(lambda: not WebhookDelivery.objects.filter(status="pending").exists(), timeout=20)
        sent = len(failing.requests())
        completed_generation(team)  # after disabling: nothing more is sent

        assert 3 <= sent <= 4  # the third failure disables it; the other delivery's attempt may be in flight
        assert len(failing.requests()) == sent and WebhookDelivery.objects.count() == 2
        assert len(mail.outbox) == 1
        assert sorted(mail.outbox[0].to) == ["admin@example.com", "owner@example.com"]
        assert "Hook Studio" in mail.outbox[0].subject and endpoint.url in mail.outbox[0].body
    endpoint.refresh_from_db()
    assert "Disabled after" in endpoint.disabled_reason

    page = admin_client(team).get(
        reverse("webhooks:detail", kwargs={"code": team.code, "endpoint": endpoint.code})
    )
    assert b'data-testid="endpoint-state">disabled' in page.content
    admin_client(team).post(reverse("webhooks:enable", kwargs={"code": team.code, "endpoint": endpoint.code}))
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.consecutive_failures == 0


def test_a_delivery_is_re_sent_from_the_page_with_the_same_id_and_a_new_signature(
    webhook_worker, team, receiver
):
    endpoint = register(team, receiver.url)
    completed_generation(team)
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").first(), timeout=15)

    url = reverse(
        "webhooks:resend", kwargs={"code": team.code, "endpoint": endpoint.code, "delivery": delivery.code}
    )
    assert admin_client(team).post(url).status_code == 302
    wait_for(lambda: len(receiver.requests()) == 2, timeout=15)
    first, again = receiver.requests()
    assert again.headers["webhook-id"] == first.headers["webhook-id"] and again.body == first.body
    assert verified(endpoint, again)["type"] == "generation.completed"
    wait_for(lambda: WebhookAttempt.objects.filter(delivery=delivery).count() == 2)
    page = admin_client(team).get(
        reverse("webhooks:detail", kwargs={"code": team.code, "endpoint": endpoint.code})
    )
    assert page.content.decode().count('data-testid="attempt"') == 2


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("https://10.1.2.3/hook", "private address"),
        ("https://[::1]/hook", "private address"),
        ("https://localhost/hook", "private address"),
        ("http://example.com/hook", "must start with https://"),
        ("https://user:pw@example.com/hook", "without credentials"),
    ],
)
def test_a_url_that_is_not_public_https_is_refused_on_the_page(team, webhook_settings, url, refusal):
    webhook_settings.WEBHOOK_HOSTS_LOOPBACK_OK = []
    response = admin_client(team).post(
        reverse("webhooks:list", kwargs={"code": team.code}), {"url": url, "event_types": ALL_EVENTS}
    )
    assert response.status_code == 200 and refusal in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_that_now_resolves_to_a_private_address_is_not_sent_to(webhook_worker, team):
    # Public when registered, loopback now (its DNS changed): the guard runs again on every attempt.
    endpoint = WebhookEndpoint.objects.create(
        team=team, url="https://localhost:9/hook", event_types=ALL_EVENTS, secret=new_secret()
    )
    completed_generation(team)
    attempt = wait_for(lambda: WebhookAttempt.objects.first(), timeout=15)
    assert attempt.status_code is None and "localhost resolves to a private address" in attempt.error
    assert endpoint.deliveries.get().status == "pending"  # retried later, like any failure


def test_the_deploy_check_refuses_the_loopback_allowance(settings):
    settings.DEBUG = False
    settings.WEBHOOK_HOSTS_LOOPBACK_OK = ["127.0.0.1"]
    [error] = webhook_hosts_loopback_check()
    assert error.id == "pixelgallery.E004" and "WEBHOOK_HOSTS_LOOPBACK_OK" in error.msg
    settings.WEBHOOK_HOSTS_LOOPBACK_OK = []
    assert webhook_hosts_loopback_check() == []


def test_messages_are_json_with_type_timestamp_and_data(webhook_worker, team, receiver):
    endpoint = register(team, receiver.url)
    generation = make_generation(team.created_by, team=team)
    generation_fail(generation_id=generation.id, code="moderation", message="Refused by moderation.")
    generation_fail(generation_id=generation.id, code="again", message="Already failed: no second event.")
    [got] = wait_for(lambda: receiver.requests(), timeout=15)
    message = json.loads(got.body)
    assert set(message) == {"type", "timestamp", "data"} and message == verified(endpoint, got)
    assert message["data"]["error_code"] == "moderation"


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_receiver() -> str:
    """The README's "verify a webhook in ten lines of Python" example, as printed there."""
    after = README.read_text().split("Verify a webhook in ten lines of Python", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_readme_receiver_is_ten_lines_and_verifies_a_real_delivery(webhook_worker, team):
    code = readme_receiver()
    assert len([line for line in code.splitlines() if line.strip()]) == 10
    port = free_port()
    endpoint = register(team, f"http://127.0.0.1:{port}/")
    code = code.replace('"whsec_…"', repr(endpoint.secret)).replace('("", 8001)', f'("127.0.0.1", {port})')
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, timeout=10)
        completed_generation(team)
        delivery = wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").first(), timeout=15)
        assert delivery.attempt_log.get().status_code == 204
        forged = signed_headers(secret=new_secret(), message_id=delivery.message_id, body=delivery.payload)
        with pytest.raises(requests.ConnectionError):  # a forgery gets no answer at all
            requests.post(f"http://127.0.0.1:{port}/", data=delivery.payload, headers=forged, timeout=5)
    finally:
        process.terminate()
        out, _err = process.communicate(timeout=10)
    assert out.splitlines() == [
        f"{delivery.message_id} generation.completed {json.loads(delivery.payload)['data']}"
    ]


def test_deleting_the_team_deletes_its_endpoints(team, webhook_settings):
    with running_receiver() as hooked:
        register(team, hooked.url)
    team_delete(actor=team.created_by, team=team, confirm=team.name)
    assert not WebhookEndpoint.objects.exists()


def test_a_real_generation_through_the_sandbox_ends_in_a_signed_generation_completed(
    celery_worker, team, receiver, webhook_settings
):
    """The whole way: prompt → PixelDojo sandbox → image stored → event → webhooks queue → receiver."""
    endpoint = register(team, receiver.url)
    params = GenerationRequest(prompt="a lighthouse at dawn", model="flux-pro", num_outputs=2)
    generation = generation_submit(user=team.created_by, params=params, team=team)

    [got] = wait_for(lambda: receiver.requests(), timeout=40)
    message = verified(endpoint, got)
    assert message["type"] == "generation.completed" and message["data"]["generation"] == str(generation.code)
    assert [image["status"] for image in message["data"]["images"]] == ["stored", "stored"]
