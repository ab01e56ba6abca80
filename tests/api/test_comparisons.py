"""POST /api/v1/comparisons and GET /api/v1/comparisons/{code}: the form's *Compare models* through a token,
validated, budgeted and scoped the same way."""

from __future__ import annotations

from decimal import Decimal

import pytest

from credits.services import budget_set
from generations.models import Comparison, Generation
from tests.api.helpers import api_client, token_for
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db

URL = "/api/v1/comparisons"
BODY = {
    "prompt": "a lighthouse on a cliff",
    "models": ["flux-pro", "flux-1.1-pro-ultra", "flux-1.1-pro"],
    "aspect_ratio": "1:1",
    "num_outputs": 2,
}


def post(client, body: dict, **headers: str):
    return client.post(URL, body, content_type="application/json", headers=headers)


def test_a_comparison_is_queued_with_a_generation_per_model(alice, bob, django_capture_on_commit_callbacks):
    studio = make_team(alice, member=bob)
    client = api_client(token_for(bob, team=studio))
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, BODY)
    assert response.status_code == 202, response.content
    body = response.json()
    comparison = Comparison.objects.get()
    assert body["code"] == str(comparison.code) and body["team"] == str(studio.code)
    assert body["active"] is True and body["price"] == "7"  # 2 + 3 + 2
    assert [(g["model"], g["price"], g["num_outputs"]) for g in body["generations"]] == [
        ("flux-pro", "2", 2),
        ("flux-1.1-pro-ultra", "3", 2),
        ("flux-1.1-pro", "2", 2),
    ]
    assert body["page_url"].endswith(f"/compare/{comparison.code}/")
    assert len(callbacks) == 3
    again = client.get(body["status_url"])
    assert again.status_code == 200 and again.json()["generations"] == body["generations"]


@pytest.mark.parametrize(
    ("models", "field", "said"),
    [
        (["flux-pro"], "models", "at least 2"),
        (["flux-pro", "flux-pro"], "models", "Choose 2 to 4 models to compare (1 chosen)."),
        (["flux-pro", "no-such-model"], "models", "no-such-model is not one of the available choices"),
    ],
)
def test_bad_models_are_422_naming_the_field(alice, models, field, said):
    response = post(api_client(token_for(alice)), {**BODY, "models": models})
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and said in " ".join(error["fields"][field])
    assert not Generation.objects.exists()


def test_a_budget_too_small_for_the_total_is_409_and_nothing_is_made(alice, bob):
    studio = make_team(alice, member=bob)
    budget_set(actor=alice, team=studio, monthly_credits=Decimal(6))
    response = post(api_client(token_for(bob, team=studio)), BODY)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "submission_refused" and "This needs 7 credits but only 6" in error["message"]
    assert not Comparison.objects.exists() and not Generation.objects.exists()


def test_an_idempotency_key_returns_the_first_comparison(alice):
    client = api_client(token_for(alice))
    first = post(client, BODY, **{"Idempotency-Key": "cmp-1"})
    again = post(client, BODY, **{"Idempotency-Key": "cmp-1"})
    assert first.status_code == again.status_code == 202
    assert again.json()["code"] == first.json()["code"]
    assert Comparison.objects.count() == 1 and Generation.objects.count() == 3
    other = post(client, {**BODY, "models": ["flux-pro", "flux-1.1-pro"]}, **{"Idempotency-Key": "cmp-1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    plain = {"prompt": "a fox", "model": "flux-pro"}
    reused = client.post(
        "/api/v1/generations", plain, content_type="application/json", headers={"Idempotency-Key": "cmp-1"}
    )
    assert reused.status_code == 409 and Generation.objects.count() == 3


def test_a_comparison_is_found_only_in_its_tokens_space(alice, bob):
    studio, elsewhere = make_team(alice, member=bob), make_team(alice, name="Elsewhere")
    made = post(api_client(token_for(bob, team=studio)), BODY).json()
    assert api_client(token_for(alice, team=studio)).get(made["status_url"]).status_code == 200
    assert api_client(token_for(bob)).get(made["status_url"]).status_code == 404  # bob's personal token
    assert api_client(token_for(alice, team=elsewhere)).get(made["status_url"]).status_code == 404


def test_post_generations_does_not_compare(alice):
    body = {
        "prompt": "a fox",
        "model": "flux-pro",
        "compare": True,
        "compare_models": ["flux-pro", "flux-dev"],
    }
    response = api_client(token_for(alice)).post("/api/v1/generations", body, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["compare"] == ["To compare models, POST /api/v1/comparisons."]
    assert not Generation.objects.exists()
