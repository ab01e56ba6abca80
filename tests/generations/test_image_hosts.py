"""Images PixelDojo sends from a host that is not allowed: they wait (never failed for it), /ops/ names the
host and the setting, admins are e-mailed once, and allowing the host stores them once, never paid twice.

Real parts throughout: the sandbox over HTTP hands out image URLs on its second host name (``localhost``
while the API is at 127.0.0.1), a real Celery worker calls it and downloads, files land in storage.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from credits.models import LedgerEntry
from generations import services
from generations.models import Generation, Image, ImageHost
from generations.pixeldojo import GenerationRequest
from generations.services.hosts import admin_addresses
from tests.conftest import PASSWORD, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SECOND_HOST = "localhost"  # the sandbox's second name: the API is called at 127.0.0.1


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user(
        "olga", email="olga@example.com", password=PASSWORD, is_staff=True
    )


@pytest.fixture
def second_host(sandbox, settings):
    """The sandbox's image URLs on its second name, which tests alone may fetch from loopback."""
    sandbox.configure(image_host="second")
    settings.PIXELDOJO_IMAGE_HOSTS = []
    settings.PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK = [SECOND_HOST]
    return sandbox


def submit(user, **params) -> Generation:
    params = GenerationRequest(**{"prompt": "a kite over dunes", "model": "flux-pro", **params})
    return services.generation_submit(user=user, params=params)


def waiting(generation: Generation, count: int):
    def check():
        """every image of the generation waits for its host"""
        return generation.images.filter(status=Image.Status.WAITING_HOST).count() == count

    return check


def settled(generation: Generation):
    def check():
        """the generation reaches a final state"""
        generation.refresh_from_db()
        return generation.status in (Generation.Status.DONE, Generation.Status.FAILED)

    return check


def charges(generation: Generation) -> int:
    return LedgerEntry.objects.filter(generation=generation, kind="charge").count()


def test_an_image_on_a_host_not_allowed_waits_then_is_stored_once_an_operator_allows_it(
    celery_worker, second_host, alice, operator, client, mailoutbox, media_storage
):
    first = submit(alice, num_outputs=2)
    second = submit(alice)
    wait_for(waiting(first, 2), timeout=30)
    wait_for(waiting(second, 1), timeout=30)

    for generation in (first, second):
        generation.refresh_from_db()
        assert generation.status == Generation.Status.SAVING  # not failed: it waits
    image = first.images.first()
    assert image.waiting_host == SECOND_HOST and image.provider_url.startswith(f"http://{SECOND_HOST}:")
    assert image.status_text == f"Waiting: {SECOND_HOST} not allowed yet"
    assert f"from {SECOND_HOST}, which is not an allowed image host yet" in image.error_message
    stats = second_host.stats()
    assert stats["flux_requests"] == 2 and stats["image_requests"] == 0  # nothing fetched from it
    assert charges(first) == 2 and charges(second) == 1  # PixelDojo charged once per image
    assert len(mailoutbox) == 1  # one e-mail for the host, not one per image
    assert mailoutbox[0].to == ["olga@example.com"]
    assert SECOND_HOST in mailoutbox[0].subject
    assert f"PIXELDOJO_IMAGE_HOSTS={SECOND_HOST}" in mailoutbox[0].body
    assert ImageHost.objects.get(host=SECOND_HOST).admins_notified_at is not None

    alice_client = client.__class__()
    alice_client.login(username="alice", password=PASSWORD)
    for page in (reverse("generation_detail", args=[first.code]), reverse("gallery")):
        assert f"Waiting: {SECOND_HOST} not allowed yet" in alice_client.get(page).content.decode()
    image_page = alice_client.get(reverse("image_detail", args=[image.code])).content.decode()
    assert f"from {SECOND_HOST}, which is not an allowed image host yet" in image_page
    library = alice_client.get(reverse("my_images")).content.decode()
    assert f"Waiting: {SECOND_HOST} not allowed yet" in library

    client.login(username="olga", password=PASSWORD)
    ops = client.get(reverse("operations")).content.decode()
    assert f'<tr data-host="{SECOND_HOST}"><td>{SECOND_HOST}</td><td>3</td>' in ops
    assert f"<code>PIXELDOJO_IMAGE_HOSTS={SECOND_HOST}</code>" in ops
    assert "Allow this host" in ops

    response = client.post(reverse("operations_allow_host"), {"host": SECOND_HOST}, follow=True)
    assert f"{SECOND_HOST} is allowed: 3 images re-queued." in response.content.decode()
    wait_for(settled(first), timeout=30)
    wait_for(settled(second), timeout=30)

    for generation in (first, second):
        assert generation.status == Generation.Status.DONE, generation.error_message
        assert set(generation.images.values_list("status", flat=True)) == {Image.Status.STORED}
    stored = [path for path in (media_storage / "originals").rglob("*") if path.is_file()]
    assert len(stored) == 3  # each image stored once
    stats = second_host.stats()
    assert stats["flux_requests"] == 2  # PixelDojo was not asked again
    assert stats["image_requests"] == 3  # one download per image
    assert charges(first) == 2 and charges(second) == 1  # and not charged again
    assert len(mailoutbox) == 1
    assert ImageHost.objects.get(host=SECOND_HOST).allowed_by == operator
    assert "Images waiting for an image host" in client.get(reverse("operations")).content.decode()
    assert 'data-testid="waiting-hosts"' not in client.get(reverse("operations")).content.decode()


def test_the_sweeper_requeues_waiting_images_once_the_setting_allows_their_host(
    celery_worker, second_host, alice, settings
):
    generation = submit(alice)
    wait_for(waiting(generation, 1), timeout=30)
    assert services.sweep_stale_work()["waiting_images_requeued"] == 0  # still not allowed

    settings.PIXELDOJO_IMAGE_HOSTS = [SECOND_HOST]  # the operator set the setting and restarted
    assert services.sweep_stale_work()["waiting_images_requeued"] == 1
    wait_for(settled(generation), timeout=30)

    assert generation.status == Generation.Status.DONE, generation.error_message
    assert generation.images.get().status == Image.Status.STORED
    assert second_host.stats()["flux_requests"] == 1 and charges(generation) == 1


def test_an_image_still_waiting_past_retention_expires_with_the_honest_message(
    celery_worker, second_host, alice, operator, client
):
    generation = submit(alice)
    wait_for(waiting(generation, 1), timeout=30)
    Generation.objects.filter(id=generation.id).update(provider_created_at=timezone.now() - timedelta(days=2))

    client.login(username="olga", password=PASSWORD)
    response = client.post(reverse("operations_allow_host"), {"host": SECOND_HOST}, follow=True)
    assert "0 images re-queued, 1 expired (PixelDojo had deleted it)" in response.content.decode()

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.error_message == "None of the images could be saved before PixelDojo deleted them."
    image = generation.images.get()
    assert image.status == Image.Status.EXPIRED
    assert image.error_message == (
        "PixelDojo deleted this image (its 24-hour link expired) before it could be saved."
    )
    assert second_host.stats()["image_requests"] == 0 and charges(generation) == 1


def test_the_sweeper_expires_a_waiting_image_past_retention_whatever_its_host(
    celery_worker, second_host, alice
):
    generation = submit(alice)
    wait_for(waiting(generation, 1), timeout=30)
    Generation.objects.filter(id=generation.id).update(provider_created_at=timezone.now() - timedelta(days=2))

    assert services.sweep_stale_work()["waiting_images_expired"] == 1
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.images.get().status == Image.Status.EXPIRED


def test_an_allowed_host_resolving_to_loopback_without_the_test_setting_still_fails_for_good(
    celery_worker, sandbox, alice, settings
):
    sandbox.configure(image_host="second")
    settings.PIXELDOJO_IMAGE_HOSTS = [SECOND_HOST]
    settings.PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK = []
    generation = submit(alice)
    wait_for(settled(generation), timeout=30)

    assert generation.status == Generation.Status.FAILED
    image = generation.images.get()
    assert image.status == Image.Status.FAILED
    assert "resolves to a private address" in image.error_message
    assert sandbox.stats()["image_requests"] == 0


def test_allowing_a_host_nothing_waits_for_changes_nothing(second_host, operator, client):
    client.login(username="olga", password=PASSWORD)
    response = client.post(reverse("operations_allow_host"), {"host": "evil.example"}, follow=True)
    assert "No image waits for that host." in response.content.decode()
    assert not ImageHost.objects.exists()


def test_a_failed_host_e_mail_is_sent_again_by_the_sweeper(second_host, alice, operator, settings):
    settings.EMAIL_BACKEND = "tests.generations.test_image_hosts.BrokenBackend"
    generation = Generation.objects.create(user=alice, prompt="kites", model="flux-pro")
    services.generation_run(generation_id=generation.id)
    services.image_persist(image_id=generation.images.get().id)
    assert generation.images.get().status == Image.Status.WAITING_HOST
    assert ImageHost.objects.get(host=SECOND_HOST).admins_notified_at is None  # not sent: try again

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    mail.outbox = []
    assert services.sweep_stale_work()["host_emails_sent"] == 1
    assert services.sweep_stale_work()["host_emails_sent"] == 0
    assert len(mail.outbox) == 1


class BrokenBackend:
    """An e-mail backend whose server is down."""

    def __init__(self, **kwargs) -> None:
        pass

    def send_messages(self, messages) -> int:
        raise ConnectionRefusedError("mail server down")


def test_admins_are_the_admins_setting_and_active_staff_with_an_address(django_user_model, settings):
    settings.ADMINS = [("Ops", "ops@example.com"), "oncall@example.com"]
    django_user_model.objects.create_user("s1", email="s1@example.com", is_staff=True)
    django_user_model.objects.create_user("s2", email="", is_staff=True)
    django_user_model.objects.create_user("s3", email="s3@example.com", is_staff=True, is_active=False)
    django_user_model.objects.create_user("u1", email="u1@example.com")

    assert admin_addresses() == ["ops@example.com", "oncall@example.com", "s1@example.com"]
