"""The JSON API's endpoints: the same rules as the pages, in one error shape, scoped to the token's space."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from credits.services import budget_set, ledger_charge_images
from generations.models import Generation
from generations.services import provider_pause_start
from library.models import Collection, CollectionItem, Favourite
from tests.api.helpers import api_client, token_for
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db

SUBMISSION = {
    "prompt": "a lighthouse on a cliff",
    "model": "flux-pro",
    "aspect_ratio": "1:1",
    "num_outputs": 2,
}


@pytest.fixture
def studio(alice, bob, make_user):
    return make_team(alice, name="Studio", viewer=bob, member=make_user("carol"))


def test_post_generations_queues_like_the_form_and_answers_202_with_its_status_url(
    alice, studio, django_capture_on_commit_callbacks
):
    client = api_client(token_for(alice, team=studio))
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/api/v1/generations", SUBMISSION, content_type="application/json")
    assert response.status_code == 202, response.content
    body = response.json()
    generation = Generation.objects.get()
    assert body["code"] == str(generation.code) and body["status"] == "queued" and body["active"] is True
    assert generation.team == studio and generation.user == alice and generation.num_outputs == 2
    assert body["price"] == "2" and body["team"] == str(studio.code)
    assert len(callbacks) == 1  # the PixelDojo call is queued on commit
    status = client.get(body["status_url"])
    assert status.status_code == 200 and status.json()["code"] == body["code"]


def test_idempotency_key_returns_the_first_generation_and_pays_once(
    alice, django_capture_on_commit_callbacks
):
    client = api_client(token_for(alice))
    headers = {"Idempotency-Key": "batch-7"}
    with django_capture_on_commit_callbacks() as callbacks:
        first = client.post(
            "/api/v1/generations", SUBMISSION, content_type="application/json", headers=headers
        )
        again = client.post(
            "/api/v1/generations", SUBMISSION, content_type="application/json", headers=headers
        )
    assert first.status_code == again.status_code == 202
    assert first.json()["code"] == again.json()["code"] and Generation.objects.count() == 1
    assert len(callbacks) == 1
    other = {**SUBMISSION, "prompt": "something else"}
    refused = client.post("/api/v1/generations", other, content_type="application/json", headers=headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "idempotency_key_reused"
    # Another token's same key is its own.
    elsewhere = api_client(token_for(alice)).post(
        "/api/v1/generations", SUBMISSION, content_type="application/json", headers=headers
    )
    assert elsewhere.status_code == 202 and Generation.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x", "model": "no-such-model"}, "model"),
        ({"prompt": "x", "num_outputs": 9}, "num_outputs"),
        ({"prompt": "x", "lora_scale": 0.5}, "lora_scale"),
        ({"prompt": "x", "model": "flux-dev-single-lora"}, "lora_weights"),
        ({"prompt": "x", "colour": "red"}, "colour"),
        ({"prompt": "x", "seed": [1, 2]}, "seed"),
        ({"model": "flux-pro"}, "prompt"),
        ({"prompt": "x", "seed": "abc"}, "seed"),
    ],
)
def test_invalid_submissions_get_422_with_the_forms_reasons(alice, body, field):
    response = api_client(token_for(alice)).post("/api/v1/generations", body, content_type="application/json")
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"]
    if field:
        assert field in error["fields"], error
    assert not Generation.objects.exists()


def test_a_catalogue_model_is_refused_by_the_api_and_never_sent_through_flux(alice, sandbox):
    from generations.services import catalogue_refresh

    assert catalogue_refresh().ok
    client = api_client(token_for(alice))
    body = {"prompt": "a fox", "model": "flux-2-flex"}
    response = client.post("/api/v1/generations", body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert response.json()["error"]["fields"]["model"] == [
        "Flux 2 Flex is offered on the prompt form; the API submits the POST /flux models: "
        "flux-pro, flux-1.1-pro, flux-1.1-pro-ultra, flux-dev-single-lora."
    ]
    assert Generation.objects.count() == 0 and sandbox.stats()["flux_requests"] == 0


def test_a_viewer_cannot_generate_in_the_team_and_is_told_why(bob, studio):
    response = api_client(token_for(bob, team=studio)).post(
        "/api/v1/generations", SUBMISSION, content_type="application/json"
    )
    assert response.status_code == 403
    assert "viewers cannot generate" in response.json()["error"]["message"]
    assert not Generation.objects.exists()


def test_budgets_and_the_pause_refuse_with_409(alice, studio):
    client = api_client(token_for(alice, team=studio))
    budget_set(actor=alice, team=studio, monthly_credits=1)
    over = client.post("/api/v1/generations", SUBMISSION, content_type="application/json")
    assert over.status_code == 409 and over.json()["error"]["code"] == "submission_refused"
    budget_set(actor=alice, team=studio, monthly_credits=100)
    provider_pause_start(code="quota_exceeded", message="quota exceeded")
    paused = client.post("/api/v1/generations", SUBMISSION, content_type="application/json")
    assert paused.status_code == 409 and "paused" in paused.json()["error"]["message"]
    assert not Generation.objects.exists()


def test_a_token_reads_only_its_own_space(alice, studio, make_user):
    personal = make_image(alice, prompt="my personal harbour")
    in_team = make_image(alice, team=studio, prompt="the studio's harbour")
    elsewhere = make_team(alice, name="Elsewhere")
    other_team = make_image(alice, team=elsewhere, prompt="elsewhere harbour")
    for token, visible in (
        (token_for(alice), personal),
        (token_for(alice, team=studio), in_team),
        (token_for(alice, team=elsewhere), other_team),
    ):
        client = api_client(token)
        listed = [row["code"] for row in client.get("/api/v1/images").json()["data"]]
        assert listed == [str(visible.code)]
        for image in (personal, in_team, other_team):
            detail = client.get(f"/api/v1/images/{image.code}")
            assert detail.status_code == (200 if image == visible else 404)
            generation = client.get(f"/api/v1/generations/{image.generation.code}")
            assert generation.status_code == (200 if image == visible else 404)
    stranger = api_client(token_for(make_user("dave")))
    assert stranger.get(f"/api/v1/images/{personal.code}").json()["error"]["code"] == "not_found"


def test_images_filter_like_the_library_and_page_with_a_next_link(alice, studio):
    for index in range(5):
        make_image(alice, team=studio, prompt=f"harbour number {index}", days_ago=index)
    make_image(alice, team=studio, prompt="mountain", model="flux-dev", aspect_ratio="16:9")
    client = api_client(token_for(alice, team=studio))
    seen: list[str] = []
    url = "/api/v1/images?limit=2&model=flux-pro"
    while url:
        page = client.get(url).json()
        seen += [row["prompt"] for row in page["data"]]
        url = page["next"]
    assert seen == [f"harbour number {i}" for i in range(5)]
    assert [r["prompt"] for r in client.get("/api/v1/images", {"aspect_ratio": "16:9"}).json()["data"]] == [
        "mountain"
    ]
    bad = client.get("/api/v1/images", {"model": "nope"})
    assert bad.status_code == 422 and "model" in bad.json()["error"]["fields"]
    assert client.get("/api/v1/images", {"date_from": "2026-02-30"}).status_code == 422


def test_images_page_costs_the_same_queries_whatever_its_size(alice, studio):
    client = api_client(token_for(alice, team=studio))

    def queries(count: int) -> int:
        client.get("/api/v1/images?limit=100")  # the token is marked used: a steady state
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/images?limit=100").status_code == 200
        return len(captured)

    make_image(alice, team=studio, with_files=True)
    few = queries(1)
    for _ in range(12):
        make_image(alice, team=studio, with_files=True)
    assert queries(13) == few == 4  # the token, marking it used, its user's memberships, the page


def test_download_the_original(alice, studio, bob):
    image = make_image(alice, team=studio, with_files=True)
    response = api_client(token_for(bob, team=studio, scopes=["read"])).get(
        f"/api/v1/images/{image.code}/original"
    )
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_curation_favourites_tags_collections(alice, studio, bob):
    image = make_image(alice, team=studio)
    board = Collection.objects.create(name="Board", team=studio, created_by=alice)
    client = api_client(token_for(alice, team=studio, scopes=["curate", "read"]))
    assert client.put(f"/api/v1/images/{image.code}/favourite").json() == {"favourite": True}
    assert Favourite.objects.filter(user=alice, image=image).exists()
    assert client.delete(f"/api/v1/images/{image.code}/favourite").json() == {"favourite": False}
    tags = client.post(
        f"/api/v1/images/{image.code}/tags", {"tags": ["Sunset", "beach"]}, content_type="application/json"
    )
    assert tags.json() == {"tags": ["beach", "sunset"]}
    assert client.delete(f"/api/v1/images/{image.code}/tags/sunset").json() == {"tags": ["beach"]}
    added = client.put(f"/api/v1/collections/{board.code}/images/{image.code}")
    assert added.status_code == 200 and added.json()["added"] is True
    assert CollectionItem.objects.filter(collection=board, image=image).exists()
    detail = client.get(f"/api/v1/images/{image.code}").json()
    assert detail["tags"] == ["beach"] and detail["collections"] == [str(board.code)]
    assert client.get("/api/v1/collections").json()[0]["code"] == str(board.code)
    assert client.delete(f"/api/v1/collections/{board.code}/images/{image.code}").json()["added"] is True
    # A viewer may favourite, not tag or collect (as on the pages).
    viewer = api_client(token_for(bob, team=studio, scopes=["curate"]))
    assert viewer.put(f"/api/v1/images/{image.code}/favourite").status_code == 200
    refused = viewer.post(
        f"/api/v1/images/{image.code}/tags", {"tags": ["x"]}, content_type="application/json"
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert viewer.put(f"/api/v1/collections/{board.code}/images/{image.code}").status_code == 403


def test_scopes_limit_what_a_token_may_do(alice):
    image = make_image(alice)
    read_only = api_client(token_for(alice, scopes=["read"]))
    for method, url in (
        ("post", "/api/v1/generations"),
        ("put", f"/api/v1/images/{image.code}/favourite"),
    ):
        response = getattr(read_only, method)(url, SUBMISSION, content_type="application/json")
        assert response.status_code == 403 and response.json()["error"]["code"] == "scope_missing"
    curate_only = api_client(token_for(alice, scopes=["curate"]))
    assert curate_only.get("/api/v1/images").json()["error"]["code"] == "scope_missing"


def test_credits_and_ledger_personal_and_for_team_admins_only(alice, studio, make_user):
    image = make_image(alice, team=studio)
    ledger_charge_images(generation=image.generation, images=[image], credits=Decimal("1.5"))
    budget_set(actor=alice, team=studio, monthly_credits=50)
    owner = api_client(token_for(alice, team=studio, scopes=["read"]))
    credits = owner.get("/api/v1/credits")
    assert credits.status_code == 200, credits.content
    body = credits.json()
    assert body["space"] == "team" and Decimal(body["month"]) == Decimal("1.5")
    assert Decimal(body["team_budget"]["limit"]) == 50 and body["members"][0]["username"] == "alice"
    ledger = owner.get("/api/v1/ledger").json()
    assert [Decimal(row["credits"]) for row in ledger["data"]] == [Decimal("1.5")] and ledger["next"] is None
    member = api_client(token_for(make_user("erin"), scopes=["read"]))
    personal = member.get("/api/v1/credits").json()
    assert personal["space"] == "personal" and Decimal(personal["month"]) == 0
    carol = studio.memberships.get(role="member").user
    refused = api_client(token_for(carol, team=studio, scopes=["read"])).get("/api/v1/credits")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


def test_ledger_pages_follow_next(alice, studio):
    for _ in range(5):
        image = make_image(alice, team=studio)
        ledger_charge_images(generation=image.generation, images=[image], credits=1)
    client = api_client(token_for(alice, team=studio, scopes=["read"]))
    rows, url = [], "/api/v1/ledger?limit=2"
    while url:
        page = client.get(url).json()
        rows += page["data"]
        url = page["next"]
    assert len(rows) == 5 and len({row["image"] for row in rows}) == 5


def test_the_rate_limit_answers_429_with_retry_after(alice, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    client = api_client(token_for(alice, scopes=["read"]))
    statuses = [client.get("/api/v1/images").status_code for _ in range(3)]
    limited = client.get("/api/v1/images")
    assert statuses == [200, 200, 200] and limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60 and limited.json()["error"]["code"] == "rate_limited"
    other = api_client(token_for(alice, scopes=["read"]))  # each token has its own window
    assert other.get("/api/v1/images").status_code == 200


def test_openapi_document_and_docs_need_no_token_and_no_cdn(client):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    assert "/api/v1/generations" in schema.json()["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui-bundle.js" in page and "cdn" not in page.lower() and "<script>" not in page


def test_the_api_names_the_forms_parameters_and_passes_any_other_form_field_on():
    """``GenerationIn`` documents form fields only (besides the API's own options, such as ``reuse``); a
    field the form gains later (e.g. a new model's parameter) reaches the form as sent, while a name the
    form does not know is refused."""
    from api.schemas import API_OPTIONS, GenerationIn
    from generations.forms import GenerationForm

    assert "reuse" in API_OPTIONS
    assert set(GenerationIn.model_fields) - API_OPTIONS <= set(GenerationForm.base_fields)
    assert GenerationIn.model_json_schema().get("additionalProperties") is True


@pytest.mark.parametrize("tags", [["sun\x00set"], ["x" * 41], [f"tag{i}" for i in range(21)]])
def test_tags_are_validated_like_the_pages_tag_form(alice, tags):
    """Found by Schemathesis on PostgreSQL: a NUL byte in a tag was a 500 (text cannot hold it)."""
    image = make_image(alice)
    client = api_client(token_for(alice))
    response = client.post(
        f"/api/v1/images/{image.code}/tags", {"tags": tags}, content_type="application/json"
    )
    assert response.status_code == 422 and "tags" in response.json()["error"]["fields"]
    assert client.get(f"/api/v1/images/{image.code}").json()["tags"] == []
