"""Comparing models: one prompt sent to 2 to 4 models at once, priced per model, reserved against the
budget as one (all or nothing), and shown on a page of its own that the team can open."""

from __future__ import annotations

import re
from decimal import Decimal as D
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from credits.models import LedgerEntry
from credits.services import budget_set
from generations import services
from generations.models import Comparison, Generation
from generations.pixeldojo import GenerationRequest
from generations.services import CompareParams
from tests.conftest import wait_for
from tests.credits.helpers import client_in
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db
SEED_THREE = ["flux-pro", "flux-1.1-pro-ultra", "flux-1.1-pro"]  # 1 + 1.5 + 1 credits an image


def price(response) -> str:
    found = re.search(r'data-testid="price"[^>]*>(.*?)</p>', response.content.decode(), re.S)
    assert found, "no price on the form"
    return unescape(re.sub(r"<[^>]+>", "", found.group(1)))


def compare_data(models: list[str], **values: str) -> dict:
    return {
        "prompt": "a lighthouse at dawn",
        "compare": "on",
        "compare_models": models,
        "aspect_ratio": "1:1",
        "num_outputs": "1",
        **values,
    }


@pytest.fixture
def catalogue(sandbox):
    assert services.catalogue_refresh().ok


# --- The service ------------------------------------------------------------------------------------------


def test_each_model_gets_a_generation_priced_at_its_own_cost(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        comparison = services.comparison_submit(
            user=alice,
            team=None,
            prompt="a lighthouse",
            models=SEED_THREE,
            params=CompareParams(aspect_ratio="1:1", num_outputs=2, seed=7),
        )
    rows = list(comparison.generations.order_by("id"))
    assert [(g.model, g.price, g.num_outputs, g.seed) for g in rows] == [
        ("flux-pro", D(2), 2, 7),
        ("flux-1.1-pro-ultra", D(3), 2, 7),
        ("flux-1.1-pro", D(2), 2, 7),
    ]
    assert {(g.prompt, g.user_id, g.team_id, g.status) for g in rows} == {
        ("a lighthouse", alice.id, None, "queued")
    }
    assert len(callbacks) == 3  # each PixelDojo call is enqueued, after the commit only
    assert all(g.family_root == g.id and g.fingerprint for g in rows)  # each starts its family, reusable


def test_the_budget_is_checked_once_for_the_total(alice, bob):
    """8 credits left: three models at 2 + 3 + 2 = 7 fit as one; the next comparison (7 more, with 7
    reserved) does not, though each of its models alone would."""
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=D(8))
    params = CompareParams(aspect_ratio="1:1", num_outputs=2)
    first = services.comparison_submit(user=bob, team=team, prompt="a fox", models=SEED_THREE, params=params)
    assert sum(g.price for g in first.generations.all()) == 7
    with pytest.raises(services.SubmissionRefused, match="This needs 7 credits but only 1 of"):
        services.comparison_submit(user=bob, team=team, prompt="a fox", models=SEED_THREE, params=params)
    assert Comparison.objects.count() == 1 and Generation.objects.count() == 3


def test_a_refused_budget_records_and_queues_nothing(alice, bob, django_capture_on_commit_callbacks):
    """Each model alone fits the budget of 3, the three together (3.5) do not: nothing at all is made."""
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=D(3))
    refused = pytest.raises(services.SubmissionRefused, match=r"This needs 3\.5 credits but only 3 of")
    with django_capture_on_commit_callbacks(execute=True) as callbacks, refused:
        services.comparison_submit(user=bob, team=team, prompt="a fox", models=SEED_THREE)
    assert callbacks == []
    assert not Comparison.objects.exists() and not Generation.objects.exists()


@pytest.mark.parametrize(
    ("models", "said"),
    [
        (["flux-pro"], r"Compare 2 to 4 models \(1 chosen\)"),
        (["flux-pro", "flux-1.1-pro", "flux-1.1-pro-ultra", "flux-pro", "flux-1.1-pro"], "each model once"),
        (["flux-pro", "flux-pro"], "Choose each model once"),
        (["flux-pro", "no-such-model"], "The model no-such-model is not offered"),
    ],
)
def test_two_to_four_distinct_offered_models(alice, models, said):
    with pytest.raises(services.SubmissionRefused, match=said):
        services.comparison_submit(user=alice, team=None, prompt="a fox", models=models)
    assert not Comparison.objects.exists() and not Generation.objects.exists()


def test_five_distinct_models_are_too_many(catalogue, alice):
    models = [*SEED_THREE, "flux-dev", "seedream-4"]
    with pytest.raises(services.SubmissionRefused, match=r"Compare 2 to 4 models \(5 chosen\)"):
        services.comparison_submit(user=alice, team=None, prompt="a fox", models=models)
    assert not Generation.objects.exists()


def test_catalogue_models_needing_only_a_prompt_are_compared_as_jobs(catalogue, alice):
    """flux-dev takes the number of images and the aspect ratio; seedream-4 neither count nor seed (one
    image, its own cost); a model that needs a picture cannot be compared."""
    comparison = services.comparison_submit(
        user=alice,
        team=None,
        prompt="a fox",
        models=["flux-pro", "flux-dev", "seedream-4"],
        params=CompareParams(aspect_ratio="1:1", num_outputs=2, seed=5),
    )
    flux, dev, seedream = comparison.generations.order_by("id")
    assert (flux.model, flux.price, flux.job_input) == ("flux-pro", D(2), {})
    assert dev.job_input == {"prompt": "a fox", "aspect_ratio": "1:1", "num_outputs": 2}
    assert (dev.price, dev.num_outputs) == (D(2), 2)
    assert seedream.job_input == {"prompt": "a fox", "aspect_ratio": "1:1"}
    assert (seedream.price, seedream.num_outputs) == (D(1), 1)
    with pytest.raises(services.SubmissionRefused, match="Face Enhance needs more than a prompt"):
        services.comparison_submit(user=alice, team=None, prompt="a fox", models=["flux-pro", "face-enhance"])


def test_a_catalogue_model_refusing_a_common_parameter_refuses_the_whole_comparison(catalogue, alice):
    with pytest.raises(services.SubmissionRefused, match="Flux Dev refuses this request"):
        services.comparison_submit(
            user=alice,
            team=None,
            prompt="a fox",
            models=["flux-pro", "flux-dev"],
            params=CompareParams(aspect_ratio="21:9"),
        )
    assert not Generation.objects.exists()


def test_the_lora_model_needs_weights_and_only_it_gets_them(alice):
    with pytest.raises(services.SubmissionRefused, match="needs a LoRA weights URL"):
        services.comparison_submit(
            user=alice, team=None, prompt="a fox", models=["flux-pro", "flux-dev-single-lora"]
        )
    comparison = services.comparison_submit(
        user=alice,
        team=None,
        prompt="a fox",
        models=["flux-pro", "flux-dev-single-lora"],
        params=CompareParams(lora_weights="https://example.com/w.safetensors", lora_scale=0.5),
    )
    flux, lora = comparison.generations.order_by("id")
    assert (flux.lora_weights, flux.lora_scale) == ("", None)
    assert (lora.lora_weights, lora.lora_scale) == ("https://example.com/w.safetensors", 0.5)


def test_a_viewer_may_not_compare(alice, bob):
    team = make_team(alice, viewer=bob)
    with pytest.raises(services.SubmissionRefused, match="viewers cannot generate there"):
        services.comparison_submit(user=bob, team=team, prompt="a fox", models=SEED_THREE)
    assert not Generation.objects.exists()


# --- The form ---------------------------------------------------------------------------------------------


def test_the_form_offers_the_comparable_models_with_their_costs(catalogue, alice):
    page = client_in(alice).get(reverse("gallery")).content.decode()
    offered = re.findall(r'name="compare_models" value="([^"]+)"', page)
    assert offered[:4] == ["flux-pro", "flux-1.1-pro", "flux-1.1-pro-ultra", "flux-dev-single-lora"]
    assert {"flux-dev", "seedream-4", "flux-2-flex"} <= set(offered)
    assert not {"face-enhance", "creative-upscale", "consistent-characters"} & set(offered)
    assert "FLUX 1.1 Pro Ultra · 1.5 credits" in unescape(page)


def test_a_comparison_redirects_to_its_page(alice):
    response = client_in(alice).post(reverse("generate"), compare_data(SEED_THREE))
    comparison = Comparison.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("comparison_detail", args=[comparison.code])
    assert comparison.generations.count() == 3


def test_a_refused_comparison_comes_back_with_its_price_and_values(alice, bob):
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=D(3))
    response = client_in(bob, team).post(reverse("generate"), compare_data(SEED_THREE))
    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert "This needs 3.5 credits but only 3 of" in page
    assert price(response) == "Price: Compare 3 models: 1 + 1 + 1.5 = 3.5 credits"
    for model in SEED_THREE:
        assert re.search(rf'value="{re.escape(model)}" id="[^"]+" checked', page), model
    assert re.search(r'name="compare"[^>]*checked', page)
    assert not Generation.objects.exists()


def test_too_few_models_is_said_beside_the_choice(alice):
    response = client_in(alice).post(reverse("generate"), compare_data(["flux-pro"], num_outputs="2"))
    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert "Choose 2 to 4 models to compare (1 chosen)." in page
    assert price(response) == "Price: Compare: choose 2 to 4 models"
    assert 'value="a lighthouse at dawn"' in page or "a lighthouse at dawn</textarea>" in page
    assert not Generation.objects.exists()


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"compare_models": ["x" * 5000, "flux-pro"]}, "is not one of the available choices"),
        ({"compare_models": ["flux-pro", "flux-pro", "flux-pro"]}, "(1 chosen)"),
        ({"num_outputs": "99999999999999999999"}, "Select a valid choice"),
        ({"megapixels": "\u2603"}, "is not one of the available choices"),
        ({"model": "no-such-model", "compare": "maybe", "seed": "-2"}, "greater than or equal to -1"),
        ({"lora_weights": "https://example.com/w.safetensors"}, "can only be used with the"),
    ],
)
def test_odd_compare_input_is_told_in_the_page(alice, data, said):
    body = {**compare_data(["flux-pro", "flux-1.1-pro"]), **data}
    response = client_in(alice).post(reverse("generate"), body)
    assert response.status_code == 200
    assert said in unescape(response.content.decode())
    assert not Generation.objects.exists()


def test_the_price_counts_images_per_model_and_one_for_a_model_without_a_count(catalogue, alice):
    data = compare_data(["flux-1.1-pro-ultra", "flux-dev", "seedream-4"], num_outputs="3", prompt="")
    response = client_in(alice).post(reverse("generate"), data)  # no prompt: back with the price
    assert price(response) == "Price: Compare 3 models: 4.5 + 3 + 1 = 8.5 credits"


# --- The page ---------------------------------------------------------------------------------------------


def test_team_members_see_the_comparison_and_outsiders_get_404(alice, bob, make_user):
    carol, dave = make_user("carol"), make_user("dave")
    team = make_team(alice, member=bob, viewer=carol)
    comparison = services.comparison_submit(user=bob, team=team, prompt="a secret fox", models=SEED_THREE)
    url = reverse("comparison_detail", args=[comparison.code])
    for user in (alice, bob, carol):
        response = client_in(user, team).get(url)
        assert response.status_code == 200, user
        columns = re.findall(r'data-testid="column-model">([^<]+)<', response.content.decode())
        assert columns == ["FLUX Pro", "FLUX 1.1 Pro Ultra", "FLUX 1.1 Pro"]
    response = client_in(dave).get(url)
    assert response.status_code == 404 and b"a secret fox" not in response.content


def test_a_personal_comparison_is_its_authors_only(alice, bob):
    team = make_team(alice, member=bob)
    comparison = services.comparison_submit(user=alice, team=None, prompt="my own fox", models=SEED_THREE)
    url = reverse("comparison_detail", args=[comparison.code])
    assert client_in(alice).get(url).status_code == 200
    assert client_in(bob, team).get(url).status_code == 404


def queries(client, url: str) -> int:
    """Queries of one GET of ``url`` (after a first one warmed the header's caches)."""
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_page_labels_each_column_with_its_model_and_cost(catalogue, alice):
    comparison = services.comparison_submit(
        user=alice,
        team=None,
        prompt="a fox",
        models=["flux-pro", "flux-1.1-pro-ultra", "flux-dev"],
        params=CompareParams(num_outputs=2),
    )
    response = client_in(alice).get(reverse("comparison_detail", args=[comparison.code]))
    page = unescape(response.content.decode())
    models = re.findall(r'data-testid="column-model">([^<]+)<', page)
    costs = re.findall(r'data-testid="column-cost">([^<]+)<', page)
    assert list(zip(models, costs, strict=True)) == [
        ("FLUX Pro", "2 credits"),
        ("FLUX 1.1 Pro Ultra", "3 credits"),
        ("Flux Dev", "2 credits"),
    ]
    assert page.count("data-poll-url=") == 3  # each column's card fills in live


def test_the_page_costs_the_same_queries_for_two_columns_or_four(catalogue, alice):
    client = client_in(alice)
    counts = []
    for models in (["flux-pro", "flux-dev"], ["flux-pro", "flux-1.1-pro", "flux-dev", "seedream-4"]):
        comparison = services.comparison_submit(user=alice, team=None, prompt="a fox", models=models)
        counts.append(queries(client, reverse("comparison_detail", args=[comparison.code])))
    assert counts[0] == counts[1] <= 12, counts


def test_the_gallery_cards_link_to_their_comparison_at_no_query_per_card(alice):
    client = client_in(alice)
    services.generation_submit(user=alice, params=GenerationRequest(prompt="a fox", model="flux-pro"))
    before = queries(client, reverse("gallery"))
    comparison = services.comparison_submit(user=alice, team=None, prompt="a fox", models=SEED_THREE)
    assert queries(client, reverse("gallery")) == before
    page = client.get(reverse("gallery")).content.decode()
    link = reverse("comparison_detail", args=[comparison.code])
    assert page.count(f'href="{link}" data-testid="card-comparison"') == 3
    status = client.get(reverse("generation_status", args=[comparison.generations.first().code])).json()
    assert link in status["card_html"]


def test_deleting_the_team_deletes_its_comparisons_and_keeps_nothing_of_the_prompt(alice, bob):
    team = make_team(alice, member=bob)
    comparison = services.comparison_submit(user=bob, team=team, prompt="a fox", models=SEED_THREE)
    Generation.objects.filter(comparison=comparison).update(status="failed")
    services.team_generations_delete(team_id=team.id, actor=alice)
    assert not Comparison.objects.exists() and not Generation.objects.exists()


# --- Real workers and the sandbox ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_three_model_comparison_completes_through_the_sandbox(celery_worker, sandbox, alice, settings):
    """Two seed models (POST /flux) and a catalogue model (a job): each column ends with its images stored
    and charged its own cost; the page shows them, each labelled with its model and cost."""
    settings.PIXELDOJO_JOB_POLL_SECONDS = 0.2
    settings.PIXELDOJO_JOB_POLL_MAX_SECONDS = 1.0
    assert services.catalogue_refresh().ok
    client = client_in(alice)
    response = client.post(
        reverse("generate"), compare_data(["flux-pro", "flux-1.1-pro-ultra", "flux-dev"], num_outputs="2")
    )
    comparison = Comparison.objects.get()
    assert response["Location"] == reverse("comparison_detail", args=[comparison.code])

    def all_done() -> bool:
        """every column's generation done"""
        return set(comparison.generations.values_list("status", flat=True)) == {"done"}

    wait_for(all_done, timeout=60)
    for generation, cost in zip(comparison.generations.order_by("id"), (2, 3, 2), strict=True):
        assert [image.status for image in generation.images.all()] == ["stored", "stored"], generation.model
        charged = LedgerEntry.objects.filter(generation=generation, kind="charge")
        assert sum(entry.credits for entry in charged) == cost == generation.price, generation.model
    page = unescape(client.get(response["Location"]).content.decode())
    columns = page.split('data-testid="comparison-column"')[1:]
    expected = [("FLUX Pro", "2 credits"), ("FLUX 1.1 Pro Ultra", "3 credits"), ("Flux Dev", "2 credits")]
    assert len(columns) == len(expected)
    for column, (model, cost) in zip(columns, expected, strict=True):
        assert f'data-testid="column-model">{model}<' in column
        assert f'data-testid="column-cost">{cost}<' in column
        assert column.count('data-testid="stored-thumbnail"') == 2
        assert "data-poll-url" not in column  # done: nothing left to poll
    assert sandbox.stats()["run_requests"] == 1  # flux-dev, as a job
