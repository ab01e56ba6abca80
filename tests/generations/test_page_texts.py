"""Words on the pages: parameter labels, back links, long prompts, the prompt counter, the favicon."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from generations.models import Generation
from tests.conftest import PASSWORD
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db

LONG_WORD = "x" * 2000


@pytest.fixture
def alice_client(client, alice):
    client.login(username="alice", password=PASSWORD)
    return client


def page_text(response) -> str:
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_detail_pages_show_labels_not_api_names(alice_client, alice):
    image = make_image(alice, model="flux-1.1-pro", aspect_ratio="16:9", seed=4242)
    Generation.objects.filter(id=image.generation_id).update(num_outputs=1, megapixels="0.25", go_fast=True)
    for url in (
        reverse("generation_detail", args=[image.generation.code]),
        reverse("image_detail", args=[image.code]),
    ):
        text = page_text(alice_client.get(url))
        for label, value in [
            ("Model", "FLUX 1.1 Pro — improved detail and coherence"),
            ("Aspect ratio", "16:9"),
            ("Images", "1"),
            ("Seed", "4242"),
            ("Megapixels", "0.25 MP (draft)"),
            ("Go fast", "Yes"),
        ]:
            assert f"<dt>{label}</dt><dd>{value}</dd>" in text, (url, label)
        for api_name in ("aspect_ratio", "num_outputs", "megapixels", "go_fast", ">model<", ">seed<"):
            assert api_name not in text.split('<dl class="params">')[1].split("</dl>")[0], (url, api_name)


def test_lora_parameters_have_labels(alice):
    image = make_image(alice, model="flux-dev-single-lora")
    Generation.objects.filter(id=image.generation_id).update(
        lora_weights="https://example.com/w.safetensors", lora_scale=0.7
    )
    rows = dict(Generation.objects.get(id=image.generation_id).parameter_rows())
    assert rows["LoRA weights"] == "https://example.com/w.safetensors"
    assert rows["LoRA scale"] == "0.7"
    assert rows["Model"] == "FLUX Dev + LoRA — your own LoRA weights"


@pytest.mark.parametrize("in_team", [True, False])
def test_back_links_go_to_the_library_the_work_belongs_to(client, alice, in_team):
    team = make_team(alice) if in_team else None
    image = make_image(alice, team=team)
    client.login(username="alice", password=PASSWORD)
    if team is not None:  # the team library is the active team's
        client.post(reverse("teams:switch"), {"team": str(team.code)})
    expected = (
        f'<a href="{reverse("team_library")}" data-testid="back">← Team library</a>'
        if in_team
        else f'<a href="{reverse("my_images")}" data-testid="back">← My images</a>'
    )
    for url in (
        reverse("generation_detail", args=[image.generation.code]),
        reverse("image_detail", args=[image.code]),
    ):
        assert expected in page_text(client.get(url)), url


def test_cards_and_tiles_carry_the_whole_prompt_and_the_detail_page_shows_it(alice_client, alice):
    prompt = "a lighthouse " + LONG_WORD
    image = make_image(alice, prompt=prompt)
    gallery = page_text(alice_client.get(reverse("gallery")))
    assert f'<p class="prompt clamp" title="{prompt}" data-testid="card-prompt">{prompt}</p>' in gallery
    library = page_text(alice_client.get(reverse("my_images")))
    assert f'data-testid="tile-prompt">{prompt}</span>' in library  # whole, clamped to two lines by CSS
    detail = page_text(alice_client.get(reverse("image_detail", args=[image.code])))
    assert f'<h1 class="prompt-title" data-testid="prompt">{prompt}</h1>' in detail


def test_prompt_box_has_maxlength_and_a_counter(alice_client):
    text = page_text(alice_client.get(reverse("generate")))
    assert 'maxlength="2000"' in text
    assert "<span data-count>0</span> / 2,000 characters</p>" in text
    assert "js/prompt-counter.js" in text


def test_an_over_long_prompt_is_refused_in_the_page_not_cut(alice_client):
    data = {"prompt": "y" * 5000, "model": "flux-pro", "aspect_ratio": "1:1", "num_outputs": "1"}
    response = alice_client.post(reverse("generate"), data)
    text = page_text(response)
    assert "Ensure this value has at most 2000 characters (it has 5000)." in text
    assert 'class="help prompt-counter over"' in text
    assert "<span data-count>5,000</span> / 2,000 characters" in text
    assert not Generation.objects.exists()


def test_favicon_is_served_and_linked(client, alice):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file
    client.login(username="alice", password=PASSWORD)
    assert '<link rel="icon" href="/static/favicon.ico"' in page_text(client.get(reverse("gallery")))
