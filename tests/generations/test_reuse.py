"""Reuse before you pay (issue 16): the reuse key, the one-query lookup scoped as the library is, the form's
offer, the API's ``reuse`` and the credits saved shown on the credits pages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from credits.models import LedgerEntry, Reuse
from generations import services
from generations.fingerprints import fingerprint, fingerprints_backfill, normalised_prompt
from generations.models import Generation
from generations.pixeldojo import GenerationRequest
from generations.selectors import reusable_generation
from teams.models import Membership
from teams.permissions import forget_memberships, memberships_of
from tests.api.helpers import api_client, token_for
from tests.credits.helpers import client_in
from tests.generations.factories import make_generation, make_stored_image
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db

FORM = {
    "prompt": "A quiet   harbour at dusk",
    "model": "flux-pro",
    "aspect_ratio": "1:1",
    "num_outputs": "2",
    "seed": "7",
    "megapixels": "1",
}


def request(**changes) -> GenerationRequest:
    values = {"prompt": "a quiet harbour at dusk", "model": "flux-pro", "aspect_ratio": "1:1", "seed": 7}
    values["megapixels"] = "1"
    return GenerationRequest(**{**values, **changes})


def done(user, *, team=None, images: int = 1, **fields) -> Generation:
    """A finished generation of ``request()`` (changed by ``fields``) with ``images`` stored images, keyed as
    the submit paths key it."""
    values = {"prompt": "a quiet harbour at dusk", "aspect_ratio": "1:1", "seed": 7, "megapixels": "1"}
    values["status"] = Generation.Status.DONE
    generation = make_generation(user, team=team, **{**values, **fields})
    generation.fingerprint = generation.stored_fingerprint()
    generation.save(update_fields=["fingerprint"])
    for index in range(images):
        make_stored_image(generation, index=index)
    return generation


# --- The key -----------------------------------------------------------------------------------------


def test_the_prompt_is_compared_without_case_or_extra_whitespace():
    assert normalised_prompt("  A Quiet\tHARBOUR \n at dusk ") == "a quiet harbour at dusk"
    assert Generation.fingerprint_for(
        request(prompt="A  QUIET harbour at Dusk ")
    ) == Generation.fingerprint_for(request())
    assert Generation.fingerprint_for(
        request(prompt="a quiet harbour at dawn")
    ) != Generation.fingerprint_for(request())


@pytest.mark.parametrize("seed", [None, -1, -5])
def test_without_a_fixed_seed_there_is_no_key_and_nothing_is_reused(seed, alice):
    assert Generation.fingerprint_for(request(seed=seed)) == ""
    done(alice, seed=seed)
    assert reusable_generation(user=alice, team=None, fingerprint="") is None


@pytest.mark.parametrize(
    "change",
    [
        {"model": "flux-1.1-pro"},
        {"aspect_ratio": "16:9"},
        {"megapixels": "0.25"},
        {"go_fast": True},
        {"seed": 8},
        {"model": "flux-dev-single-lora", "lora_weights": "https://example.com/a.safetensors"},
    ],
)
def test_any_other_parameter_gives_another_key(change):
    assert Generation.fingerprint_for(request(**change)) not in ("", Generation.fingerprint_for(request()))


def test_lora_weights_and_scale_are_part_of_the_key():
    lora = {"model": "flux-dev-single-lora", "lora_weights": "https://example.com/a.safetensors"}
    keys = {Generation.fingerprint_for(request(**lora, lora_scale=scale)) for scale in (None, 0.7, 0.8)}
    assert len(keys) == 3


def test_the_number_of_images_is_not_part_of_the_key():
    assert Generation.fingerprint_for(request(num_outputs=1)) == Generation.fingerprint_for(
        request(num_outputs=4)
    )


def test_a_catalogue_job_is_keyed_by_its_model_and_whole_input_only_with_an_integer_seed():
    job = {"prompt": "A fox ", "resolution": "2 MP", "num_outputs": 2, "seed": 5}
    key = Generation.job_fingerprint_for(model="flux-2-flex", job_input=job)
    assert len(key) == 64
    reordered = {"seed": 5, "num_outputs": 2, "resolution": "2 MP", "prompt": "a   FOX"}
    assert Generation.job_fingerprint_for(model="flux-2-flex", job_input=reordered) == key
    assert Generation.job_fingerprint_for(model="flux-2-pro", job_input=job) != key
    assert Generation.job_fingerprint_for(model="flux-2-flex", job_input={**job, "num_outputs": 3}) != key
    for seed in (None, -1, True, "5", 5.0):
        assert Generation.job_fingerprint_for(model="flux-2-flex", job_input={**job, "seed": seed}) == ""
    assert Generation.job_fingerprint_for(model="flux-2-flex", job_input={"prompt": "a fox"}) == ""


def test_both_submit_paths_key_what_they_queue(alice, sandbox):
    generation = services.generation_submit(user=alice, params=request(num_outputs=2))
    assert generation.fingerprint == Generation.fingerprint_for(request()) != ""
    assert Generation.objects.get(pk=generation.pk).fingerprint == generation.stored_fingerprint()
    assert services.generation_submit(user=alice, params=request(seed=None)).fingerprint == ""

    assert services.catalogue_refresh().ok
    job = {"prompt": "a fox", "resolution": "2 MP", "seed": 5}
    queued = services.catalogue_generation_submit(user=alice, model="flux-2-flex", payload=job)
    assert queued.fingerprint == Generation.job_fingerprint_for(model="flux-2-flex", job_input=job) != ""
    assert queued.fingerprint == Generation.objects.get(pk=queued.pk).stored_fingerprint()


def test_the_backfill_keys_rows_made_before_keys_existed_batch_by_batch(alice):
    seeded = [make_generation(alice, seed=n, megapixels="1") for n in range(5)]
    unseeded = make_generation(alice, seed=None)
    job = make_generation(alice, model="flux-2-flex", job_input={"prompt": "a fox", "seed": 3})
    assert set(Generation.objects.values_list("fingerprint", flat=True)) == {""}
    assert fingerprints_backfill(Generation, batch=2) == 6
    for generation in [*seeded, job]:
        generation.refresh_from_db()
        assert generation.fingerprint == generation.stored_fingerprint() != ""
    unseeded.refresh_from_db()
    assert unseeded.fingerprint == ""
    assert len({g.fingerprint for g in seeded}) == 5
    assert fingerprints_backfill(Generation, batch=2) == 0  # a second run has nothing left to do


def test_the_key_is_the_one_function_of_the_stored_values():
    values = {"prompt": "x", "model": "flux-pro", "aspect_ratio": "1:1", "megapixels": "1", "seed": 1}
    assert fingerprint(**values) == Generation.fingerprint_for(GenerationRequest(**values))


# --- The lookup --------------------------------------------------------------------------------------


def test_the_newest_finished_generation_with_every_image_stored_is_found_in_one_query(
    alice, django_assert_num_queries
):
    key = Generation.fingerprint_for(request())
    older = done(alice, images=2)
    newer = done(alice, images=2)
    with django_assert_num_queries(1):
        found = reusable_generation(user=alice, team=None, fingerprint=key)
    assert found == newer != older
    assert str(found.first_image_code) == str(newer.images.get(index=0).code)

    team = make_team(alice)
    in_team = done(alice, team=team)
    memberships_of(alice)  # loaded once per request, as every page does already
    with django_assert_num_queries(1):
        assert reusable_generation(user=alice, team=team, fingerprint=key) == in_team


def test_unfinished_failed_or_partly_lost_work_is_not_offered(alice):
    key = Generation.fingerprint_for(request())
    done(alice, status=Generation.Status.SAVING)
    done(alice, status=Generation.Status.FAILED)
    done(alice, images=0)
    lost = done(alice, images=2)
    lost.images.filter(index=1).update(status="expired")
    assert reusable_generation(user=alice, team=None, fingerprint=key) is None


def test_another_teams_identical_image_is_not_offered(alice, bob):
    key = Generation.fingerprint_for(request())
    theirs = make_team(bob, name="Theirs")
    done(bob, team=theirs)
    done(bob)  # bob's personal one
    ours = make_team(alice, name="Ours")
    assert reusable_generation(user=alice, team=ours, fingerprint=key) is None
    assert reusable_generation(user=alice, team=None, fingerprint=key) is None
    assert reusable_generation(user=alice, team=theirs, fingerprint=key) is None  # not a member


def test_a_removed_member_is_not_offered_the_teams_images(alice, bob):
    key = Generation.fingerprint_for(request())
    team = make_team(alice, member=bob)
    own = done(bob, team=team)
    assert reusable_generation(user=bob, team=team, fingerprint=key) == own
    Membership.objects.filter(team=team, user=bob).delete()
    forget_memberships(bob)
    assert reusable_generation(user=bob, team=team, fingerprint=key) is None


def test_each_space_offers_its_own_work(alice, bob):
    """Personal work is offered to personal submissions, a team's work to submissions in that team."""
    key = Generation.fingerprint_for(request())
    team = make_team(alice, member=bob)
    teams_work = done(alice, team=team)
    assert reusable_generation(user=alice, team=None, fingerprint=key) is None
    assert reusable_generation(user=bob, team=team, fingerprint=key) == teams_work  # a teammate's image
    personal = done(alice)
    assert reusable_generation(user=alice, team=None, fingerprint=key) == personal
    assert reusable_generation(user=alice, team=team, fingerprint=key) == teams_work


# --- The form ----------------------------------------------------------------------------------------


def test_a_matching_submission_is_offered_the_images_and_nothing_is_queued(
    alice, django_capture_on_commit_callbacks
):
    existing = done(alice)
    client = client_in(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("gallery"), FORM)
    assert response.status_code == 200
    page = response.content.decode()
    assert "You already have this" in page and "open it, or generate again for" in page
    assert response.context["reuse_offer"].price_text == "2 credits"
    assert 'data-testid="reuse-price">2 credits<' in page
    assert reverse("generation_detail", args=[existing.code]) in page
    assert str(existing.images.get().code) in page
    assert "A quiet   harbour at dusk</textarea>" in page  # the values as sent are kept in the form
    assert 'name="seed" value="7"' in page
    assert Generation.objects.count() == 1 and not callbacks
    assert not LedgerEntry.objects.exists() and not Reuse.objects.exists()


def test_generate_again_queues_a_new_generation(alice, django_capture_on_commit_callbacks):
    existing = done(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_in(alice).post(reverse("gallery"), {**FORM, "confirm_new": "1"})
    assert response.status_code == 302 and response["Location"] == reverse("gallery")
    new = Generation.objects.exclude(pk=existing.pk).get()
    assert new.status == "queued" and new.fingerprint == existing.fingerprint and new.price == 2
    assert len(callbacks) == 1
    assert not Reuse.objects.exists()


def test_opening_the_offered_images_records_the_credits_saved_and_charges_nothing(alice):
    team = make_team(alice)
    existing = done(alice, team=team)
    client = client_in(alice, team)
    response = client.post(reverse("gallery"), {**FORM, "reuse": str(existing.code)})
    assert response.status_code == 302
    assert response["Location"] == reverse("generation_detail", args=[existing.code])
    reuse = Reuse.objects.get()
    assert (reuse.user, reuse.team, reuse.generation_id, reuse.credits) == (alice, team, existing.id, 2)
    assert Generation.objects.count() == 1 and not LedgerEntry.objects.exists()
    # A code that is not the offered one is not taken: the offer is shown again.
    other = client.post(reverse("gallery"), {**FORM, "reuse": "00000000-0000-0000-0000-000000000000"})
    assert other.status_code == 200 and other.context["reuse_offer"].generation == existing
    assert Reuse.objects.count() == 1


def test_without_a_seed_or_a_match_the_form_queues_as_before(alice, django_capture_on_commit_callbacks):
    done(alice)
    with django_capture_on_commit_callbacks():
        unseeded = client_in(alice).post(reverse("gallery"), {**FORM, "seed": ""})
        other = client_in(alice).post(reverse("gallery"), {**FORM, "aspect_ratio": "16:9"})
    assert unseeded.status_code == other.status_code == 302
    assert Generation.objects.filter(status="queued").count() == 2


# --- The API -----------------------------------------------------------------------------------------

API_BODY = {"prompt": "a QUIET harbour at dusk", "aspect_ratio": "1:1", "num_outputs": 2, "seed": 7}


def test_the_api_answers_reuse_with_the_existing_generation_and_charges_nothing(
    alice, django_capture_on_commit_callbacks
):
    team = make_team(alice)
    existing = done(alice, team=team, images=2)
    client = api_client(token_for(alice, team=team))
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/api/v1/generations", {**API_BODY, "reuse": True}, content_type="application/json"
        )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reused"] is True and body["code"] == str(existing.code) and body["credits"] == "0"
    assert [image["code"] for image in body["images"]] == [
        str(code) for code in existing.images.values_list("code", flat=True)
    ]
    assert Generation.objects.count() == 1 and not callbacks and not LedgerEntry.objects.exists()
    assert Reuse.objects.get().credits == 2


def test_the_api_without_reuse_or_a_match_creates_as_before(alice, django_capture_on_commit_callbacks):
    existing = done(alice)
    client = api_client(token_for(alice))
    with django_capture_on_commit_callbacks() as callbacks:
        plain = client.post("/api/v1/generations", API_BODY, content_type="application/json")
        refused = client.post(
            "/api/v1/generations", {**API_BODY, "reuse": False}, content_type="application/json"
        )
        unmatched = client.post(
            "/api/v1/generations", {**API_BODY, "seed": 8, "reuse": True}, content_type="application/json"
        )
    assert plain.status_code == refused.status_code == unmatched.status_code == 202
    assert all(r.json()["reused"] is False for r in (plain, refused, unmatched))
    assert existing.code not in {r.json()["code"] for r in (plain, refused, unmatched)}
    assert Generation.objects.count() == 4 and len(callbacks) == 3 and not Reuse.objects.exists()


def test_the_api_does_not_reuse_another_spaces_images(alice, bob):
    team = make_team(alice, member=bob)
    done(alice, team=team)
    response = api_client(token_for(bob)).post(
        "/api/v1/generations", {**API_BODY, "reuse": True}, content_type="application/json"
    )
    assert response.status_code == 202 and response.json()["reused"] is False


# --- Credits saved -----------------------------------------------------------------------------------


def test_the_credits_pages_show_the_credits_saved_by_reuse(alice, bob):
    team = make_team(alice, member=bob)
    existing = done(bob, team=team)
    client_in(bob, team).post(reverse("gallery"), {**FORM, "reuse": str(existing.code)})
    client_in(bob, team).post(reverse("gallery"), {**FORM, "num_outputs": "1", "reuse": str(existing.code)})
    mine = client_in(bob).get(reverse("credits:mine")).content.decode()
    assert "Credits saved by reuse: <strong>3</strong>" in mine
    assert (
        "Credits saved by reuse: <strong>0</strong>"
        in client_in(alice).get(reverse("credits:mine")).content.decode()
    )
    teams_page = client_in(alice, team).get(reverse("credits:team")).content.decode()
    assert "Credits saved by reuse: <strong>3</strong>" in teams_page
    assert Decimal(3) == sum(Reuse.objects.values_list("credits", flat=True))
