"""Remixes through the API: ``remix_of`` records the parent (422 for an image the token cannot read), and
generations and images answer ``remixed_from`` (null where the token cannot read the parent)."""

from __future__ import annotations

import uuid

import pytest

from generations.models import Generation
from tests.api.helpers import api_client, token_for
from tests.library.factories import make_image, make_remix, make_team

pytestmark = pytest.mark.django_db

SUBMISSION = {"prompt": "a lighthouse in a storm", "model": "flux-pro", "aspect_ratio": "1:1"}


def test_remix_of_records_the_parent_and_is_answered_as_remixed_from(alice):
    studio = make_team(alice, name="Studio")
    parent = make_image(alice, team=studio, prompt="a lighthouse")
    client = api_client(token_for(alice, team=studio))

    response = client.post(
        "/api/v1/generations", {**SUBMISSION, "remix_of": str(parent.code)}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    assert response.json()["remixed_from"] == str(parent.code)
    remix = Generation.objects.get(code=response.json()["code"])
    assert remix.remixed_from_id == parent.id and remix.family_root == parent.generation_id

    image = remix.images.create(
        user=alice, team=studio, index=0, provider_url="http://127.0.0.1:9/x.png", status="stored"
    )
    assert client.get(f"/api/v1/images/{image.code}").json()["remixed_from"] == str(parent.code)
    assert client.get(f"/api/v1/images/{parent.code}").json()["remixed_from"] is None
    listed = client.get(f"/api/v1/images?family={image.code}").json()["data"]
    assert {row["code"]: row["remixed_from"] for row in listed} == {
        str(image.code): str(parent.code),
        str(parent.code): None,
    }

    plain = client.post("/api/v1/generations", SUBMISSION, content_type="application/json").json()
    assert plain["remixed_from"] is None


def test_remix_of_an_image_the_token_cannot_read_is_422_and_nothing_is_queued(alice, bob):
    studio = make_team(alice, name="Studio", member=bob)
    bobs = make_image(bob, prompt="bob's own")  # personal: not alice's to see
    alices_personal = make_image(alice, prompt="alice at home")  # alice's, but outside the token's team
    client = api_client(token_for(alice, team=studio))
    for code in (bobs.code, alices_personal.code, uuid.uuid4()):
        response = client.post(
            "/api/v1/generations", {**SUBMISSION, "remix_of": str(code)}, content_type="application/json"
        )
        assert response.status_code == 422, response.content
        assert list(response.json()["error"]["fields"]) == ["remix_of"]
    malformed = client.post(
        "/api/v1/generations", {**SUBMISSION, "remix_of": "nope"}, content_type="application/json"
    )
    assert malformed.status_code == 422
    assert not Generation.objects.filter(prompt=SUBMISSION["prompt"]).exists()


def test_remixed_from_is_null_where_the_token_cannot_read_the_parent(alice, bob):
    studio = make_team(alice, name="Studio", member=bob)
    personal = make_image(alice, prompt="alice at home")
    shared = make_remix(personal, team=studio, prompt="alice at home, for the team")
    body = api_client(token_for(bob, team=studio)).get(f"/api/v1/images/{shared.code}").json()
    assert body["remixed_from"] is None  # alice's personal image is not bob's to know about
    body = api_client(token_for(alice)).get(f"/api/v1/images/{personal.code}").json()
    assert body["remixed_from"] is None


def test_an_idempotency_key_reused_for_another_parent_is_409(alice):
    first, second = make_image(alice, prompt="one"), make_image(alice, prompt="two")
    client = api_client(token_for(alice))
    headers = {"Idempotency-Key": "remix-1"}

    def post(parent):
        body = {**SUBMISSION, "remix_of": str(parent.code)}
        return client.post("/api/v1/generations", body, content_type="application/json", headers=headers)

    assert post(first).status_code == 202
    assert post(first).status_code == 202  # the same request again: the first generation
    assert post(second).status_code == 409
    assert Generation.objects.filter(prompt=SUBMISSION["prompt"]).count() == 1
