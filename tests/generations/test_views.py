"""Pages: login, submitting the form, the gallery, and one user never reaching another's work."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from credits.models import LedgerEntry
from credits.services import ledger_charge_images
from generations.models import Generation
from tests.conftest import PASSWORD
from tests.generations.factories import make_generation, make_stored_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, alice):
    client.login(username="alice", password=PASSWORD)
    return client


@pytest.fixture
def stored(alice):
    generation = make_generation(alice, status=Generation.Status.DONE)
    image = make_stored_image(generation)
    image.file.name = default_storage.save("originals/test.png", ContentFile(b"\x89PNG original bytes"))
    image.thumbnail.name = default_storage.save("thumbnails/test.webp", ContentFile(b"RIFF thumb"))
    image.content_type = "image/png"
    image.save()
    return generation, image


@pytest.mark.parametrize("name", ["gallery", "generate"])
def test_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_valid_submission_queues_a_generation(alice_client, alice, django_capture_on_commit_callbacks):
    data = {"prompt": "a red fox", "model": "flux-1.1-pro", "aspect_ratio": "1:1", "num_outputs": "3"}
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_client.post(reverse("generate"), data)
    assert response.status_code == 302 and response["Location"] == reverse("gallery")
    generation = Generation.objects.get()
    assert (generation.user, generation.status, generation.num_outputs) == (alice, "queued", 3)
    assert len(callbacks) == 1  # the Celery task is enqueued only after the commit


def test_invalid_submission_shows_errors_beside_fields_and_keeps_input(alice_client):
    data = {
        "prompt": "a red fox",
        "model": "flux-pro",
        "aspect_ratio": "1:1",
        "num_outputs": "9",
        "seed": "-5",
    }
    response = alice_client.post(reverse("generate"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="num_outputs-error"' in html and 'id="seed-error"' in html
    assert "a red fox" in html  # nothing the user typed is lost
    assert not Generation.objects.exists()


def test_gallery_lists_only_own_generations_newest_first(alice_client, alice, bob):
    make_generation(alice, prompt="alice first")
    make_generation(alice, prompt="alice second")
    make_generation(bob, prompt="bob secret")
    html = alice_client.get(reverse("gallery")).content.decode()
    assert html.index("alice second") < html.index("alice first")
    assert "bob secret" not in html


def test_gallery_query_count_does_not_grow_with_the_page(alice_client, alice):
    def count_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        alice_client.get(reverse("gallery"))  # warm: the header's values are cached from the first request on
        with CaptureQueriesContext(connection) as ctx:
            assert alice_client.get(reverse("gallery")).status_code == 200
        return len(ctx.captured_queries)

    generation = make_generation(alice)
    make_stored_image(generation)
    few = count_queries()
    for _ in range(20):
        more = make_generation(alice, num_outputs=2)
        make_stored_image(more, index=0)
        make_stored_image(more, index=1)
    assert count_queries() == few


def test_detail_shows_every_parameter(alice_client, alice):
    generation = make_generation(
        alice,
        model="flux-dev-single-lora",
        seed=99,
        lora_weights="https://example.com/l.safetensors",
        lora_scale=0.8,
        megapixels="0.25",
        go_fast=True,
        aspect_ratio="3:2",
        num_outputs=2,
    )
    html = alice_client.get(reverse("generation_detail", args=[generation.code])).content.decode()
    for value in [
        "FLUX Dev + LoRA — your own LoRA weights",
        "99",
        "https://example.com/l.safetensors",
        "0.8",
        "0.25 MP (draft)",
        "3:2",
        "<dt>Go fast</dt><dd>Yes</dd>",
    ]:
        assert value in html


def test_owner_downloads_the_original(alice_client, stored):
    _, image = stored
    response = alice_client.get(reverse("image_original", args=[image.code]) + "?download=1")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x89PNG original bytes"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "image/png"


def test_status_endpoint_reports_state_and_card(alice_client, stored):
    generation, image = stored
    data = alice_client.get(reverse("generation_status", args=[generation.code])).json()
    assert data["status"] == "done" and data["active"] is False
    assert data["images"] == [{"code": str(image.code), "status": "stored"}]
    assert f'id="gen-{generation.code}"' in data["card_html"]


def test_status_endpoint_reports_credits_spent_as_the_header_writes_it(alice_client, alice, stored):
    generation, image = stored
    url = reverse("generation_status", args=[generation.code])
    data = alice_client.get(url).json()
    assert (data["credits_spent"], data["credits_spent_text"]) == ("0", "0 credits spent")
    ledger_charge_images(generation=generation, images=[image], credits=1)
    assert alice_client.get(url).json()["credits_spent_text"] == "1 credit spent"
    other = make_stored_image(generation, index=1)
    ledger_charge_images(generation=generation, images=[other], credits=Decimal("0.5"))
    data = alice_client.get(url).json()
    assert (data["credits_spent"], data["credits_spent_text"]) == ("1.5", "1.5 credits spent")
    header = alice_client.get(reverse("gallery")).content.decode()
    assert data["credits_spent_text"] in header  # the very text the badge shows after a reload


def test_status_endpoint_query_count_does_not_grow_with_images_or_charges(alice_client, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    generation = make_generation(alice, num_outputs=4)
    url = reverse("generation_status", args=[generation.code])
    images = [make_stored_image(generation, index=0)]
    ledger_charge_images(generation=generation, images=images, credits=1)
    alice_client.get(url)  # warm: the header's values are cached from the first request on
    with CaptureQueriesContext(connection) as few:
        alice_client.get(url)
    more = [make_stored_image(generation, index=i) for i in range(1, 4)]
    ledger_charge_images(generation=generation, images=more, credits=3)
    alice_client.get(url)  # the new charges are in the header's (cached) total from here on
    with CaptureQueriesContext(connection) as many:
        assert alice_client.get(url).json()["credits_spent_text"] == "4 credits spent"
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize(
    "url_name", ["generation_detail", "generation_status", "image_original", "image_thumbnail"]
)
def test_other_user_gets_404_for_everything(client, bob, stored, url_name):
    generation, image = stored
    client.login(username="bob", password=PASSWORD)
    code = generation.code if url_name.startswith("generation") else image.code
    response = client.get(reverse(url_name, args=[code]))
    assert response.status_code == 404
    assert b"a quiet harbour" not in response.content


@pytest.mark.parametrize("url_name", ["generation_detail", "generation_status", "image_original"])
def test_anonymous_is_sent_to_login(client, stored, url_name):
    generation, image = stored
    code = generation.code if url_name.startswith("generation") else image.code
    response = client.get(reverse(url_name, args=[code]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_header_shows_credits_spent_from_the_ledger(alice_client, alice, stored):
    generation, image = stored
    other = make_stored_image(generation, index=1)
    ledger_charge_images(generation=generation, images=[image, other], credits=2)
    ledger_charge_images(generation=generation, images=[other], credits=1)  # a retry charges nothing more
    assert LedgerEntry.objects.count() == 2
    html = alice_client.get(reverse("gallery")).content.decode()
    assert 'data-testid="credits-total"' in html and "2 credits spent" in html


def test_sandbox_banner_is_shown_when_no_api_key(alice_client, settings):
    settings.PIXELDOJO_USES_SANDBOX = True
    assert "Sandbox mode" in alice_client.get(reverse("gallery")).content.decode()
    settings.PIXELDOJO_USES_SANDBOX = False
    assert "Sandbox mode" not in alice_client.get(reverse("gallery")).content.decode()


def _page_html(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    "url", ["/", "/?page=1", "/generate/", "/generate/?remix={image}&seed=same"], ids=str
)
def test_a_failed_submission_comes_back_as_the_page_it_was_sent_from(alice_client, stored, url):
    """Errors, values, the address, the heading and the recent generations: the same page, not another."""
    generation, image = stored
    address = url.format(image=image.code)
    html = alice_client.get(address).content.decode()
    assert f'<form method="post" action="{address.replace("&", "&amp;")}" class="generate-form"' in html
    data = {"prompt": "a red fox, again", "model": "flux-pro", "aspect_ratio": "1:1", "num_outputs": "9"}
    response = alice_client.post(address, data)
    html = _page_html(response)
    assert response.request["PATH_INFO"] == address.split("?")[0]
    assert "<h1>Generate</h1>" in html and "New generation" not in html
    assert "<h2>Recent generations</h2>" in html and f'id="gen-{generation.code}"' in html
    assert 'id="num_outputs-error"' in html and "a red fox, again</textarea>" in html
    assert Generation.objects.count() == 1


@pytest.fixture
def studio(alice, make_user):
    """alice owns Studio, with an admin, a member and a viewer."""
    from tests.library.factories import make_team

    people = {"owner": alice, **{role: make_user(role) for role in ("admin", "member", "viewer")}}
    return make_team(alice, admin=people["admin"], member=people["member"], viewer=people["viewer"]), people


def _in_team(client, user, team):
    from teams.active import SESSION_KEY

    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = str(team.code)
    session.save()
    return client


VIEWER_REASON = (
    "You are a viewer in Studio: viewers cannot generate there. Ask an admin of Studio to make you a member, "
    "or switch to Personal to generate on your own."
)


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_the_generate_form_is_offered_only_to_those_who_may_generate_in_the_team(client, studio, role):
    team, people = studio
    html = _page_html(_in_team(client, people[role], team).get(reverse("gallery")))
    offered = role != "viewer"
    assert ('class="generate-form"' in html) is offered
    assert (VIEWER_REASON in html) is not offered
    assert ('data-testid="switch-to-personal"' in html) is not offered
    assert "<h2>Recent generations</h2>" in html


def test_a_viewers_submission_is_still_refused_with_the_reason_in_the_page(client, studio):
    team, people = studio
    data = {"prompt": "a red fox", "model": "flux-pro", "aspect_ratio": "1:1", "num_outputs": "1"}
    html = _page_html(_in_team(client, people["viewer"], team).post(reverse("gallery"), data))
    assert '<header class="topbar">' in html and "<h1>Generate</h1>" in html
    assert f'<p data-testid="generate-refusal" role="status">{VIEWER_REASON}</p>' in html
    assert not Generation.objects.exists()
    # Switching to Personal (the button offered) brings the form back, and the prompt goes through there.
    response = client.post(reverse("teams:switch"), {"team": "", "next": reverse("gallery")})
    assert 'class="generate-form"' in _page_html(client.get(response["Location"]))
    assert client.post(reverse("gallery"), data).status_code == 302
    assert Generation.objects.get().team is None
