"""The operator page and resuming after a quota pause; the pause banner and refusal at the form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from generations import services
from generations.models import Generation, Image, ProviderPause
from tests.conftest import PASSWORD
from tests.generations.factories import make_generation

pytestmark = pytest.mark.django_db

VALID = {"prompt": "a red fox", "model": "flux-pro", "aspect_ratio": "1:1", "num_outputs": "1"}


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user("olga", password=PASSWORD, is_staff=True)


def test_operations_page_is_for_staff_only(client, alice):
    pause = services.provider_pause_start(code="quota_exceeded", message="out of credits")
    client.login(username="alice", password=PASSWORD)
    response = client.get(reverse("operations"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.post(reverse("operations_resume")).status_code == 302
    assert services.provider_pause_active() == pause  # a non-operator cannot lift the pause


def test_operations_page_counts_expired_and_stale_images(client, operator, alice):
    generation = make_generation(alice, status=Generation.Status.FAILED)
    Image.objects.create(
        generation=generation,
        user=alice,
        index=0,
        provider_url="http://x/1.png",
        status="expired",
        error_message="gone",
    )
    Image.objects.create(
        generation=generation, user=generation.user, index=1, provider_url="http://x/2.png", status="stored"
    )
    client.login(username="olga", password=PASSWORD)
    html = client.get(reverse("operations")).content.decode()
    assert 'data-testid="images-expired"><strong>1<' in html
    assert 'data-testid="images-stored"><strong>1<' in html
    assert 'data-testid="images-expired-day"><strong>1<' in html
    assert "a quiet harbour" in html  # the lost image is listed with its prompt


def test_operators_see_answers_that_could_not_be_used_escaped(client, operator, alice):
    make_generation(
        alice,
        status=Generation.Status.FAILED,
        error_code="unexpected_response",
        provider_answer="<html><script>alert(1)</script>Authorization: Bearer [REDACTED]</html>",
    )
    make_generation(alice, status=Generation.Status.FAILED, error_code="server_error")  # never answered 2xx
    client.login(username="olga", password=PASSWORD)
    html = client.get(reverse("operations")).content.decode()
    table = html.split('data-testid="unusable-answers"')[1].split("</table>")[0]
    assert table.count("<tr>") == 2  # the header and the one answered generation
    assert "unexpected_response" in table and "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    assert "<script>alert(1)" not in html


def test_paused_submission_is_refused_at_the_form_and_operator_resumes(client, operator, alice):
    services.provider_pause_start(
        code="quota_exceeded", message="The PixelDojo account has run out of credits."
    )
    client.login(username="alice", password=PASSWORD)
    response = client.post(reverse("generate"), VALID)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Generation is paused" in html and 'data-testid="pause-banner"' in html
    assert "a red fox" in html  # the prompt is kept
    assert not Generation.objects.exists()

    client.login(username="olga", password=PASSWORD)
    response = client.post(reverse("operations_resume"), follow=True)
    assert "Generation resumed." in response.content.decode()
    assert services.provider_pause_active() is None

    client.login(username="alice", password=PASSWORD)
    assert client.post(reverse("generate"), VALID).status_code == 302
    assert Generation.objects.count() == 1


def test_the_admin_resume_action_clears_only_the_selected_pauses(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password=PASSWORD)
    later = timezone.now() + timedelta(hours=1)
    chosen = ProviderPause.objects.create(message="out of credits", paused_until=later)
    other = ProviderPause.objects.create(message="out again", paused_until=later)
    client.login(username="root", password=PASSWORD)
    response = client.post(
        reverse("admin:generations_providerpause_changelist"),
        {"action": "resume_now", "_selected_action": [chosen.id]},
    )
    assert response.status_code == 302
    chosen.refresh_from_db()
    other.refresh_from_db()
    assert chosen.cleared_at is not None and chosen.cleared_by == admin
    assert other.cleared_at is None
