"""The generate form says what the current choice costs before it is sent, from the same cost table that
reserves and charges it; rendered by the server (no JavaScript needed) for the first view, after an error and
for a remix."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse

from credits.services import budget_set
from tests.credits.helpers import client_in
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db

ULTRA = "flux-1.1-pro-ultra"


def price(response) -> str:
    assert response.status_code == 200
    html = response.content.decode()
    found = re.search(r'data-testid="price"[^>]*>(.*?)</p>', html, re.S)
    assert found, "no price on the form"
    return unescape(re.sub(r"<[^>]+>", "", found.group(1)))


def costs(response) -> dict[str, str]:
    found = re.search(r'data-costs="([^"]*)"', response.content.decode())
    return json.loads(unescape(found.group(1)))


def test_the_form_shows_the_price_of_its_initial_choice_and_the_cost_table(alice):
    client = client_in(alice)
    for url in (reverse("generate"), reverse("gallery")):
        response = client.get(url)
        assert price(response) == "Price: 1 \N{MULTIPLICATION SIGN} 1 = 1 credit"
        assert costs(response) == {
            "flux-pro": "1",
            "flux-1.1-pro": "1",
            ULTRA: "1.5",
            "flux-dev-single-lora": "1",
        }
        assert re.search(r'<script src="/static/js/price-preview[^"]*\.js" defer>', response.content.decode())


def test_after_an_error_the_price_is_that_of_what_was_sent(alice):
    response = client_in(alice).post(reverse("generate"), {"prompt": " ", "model": ULTRA, "num_outputs": "4"})
    assert "Describe the image you want." in response.content.decode()
    assert price(response) == "Price: 4 \N{MULTIPLICATION SIGN} 1.5 = 6 credits"
    data = {"prompt": "x", "model": "nope", "num_outputs": "9"}
    response = client_in(alice).post(reverse("generate"), data)
    assert price(response) == "Price: 1 \N{MULTIPLICATION SIGN} 1 = 1 credit"  # not a choice: the default


def test_a_refusal_for_the_budget_shows_the_same_price_it_refused(alice, bob):
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=Decimal("5"))
    response = client_in(bob, team).post(
        reverse("generate"), {"prompt": "a fox", "model": ULTRA, "num_outputs": "4", "aspect_ratio": "1:1"}
    )
    html = unescape(response.content.decode())
    assert "This needs 6 credits but only 5 of Studio's monthly budget of 5 are left" in html
    assert price(response) == "Price: 4 \N{MULTIPLICATION SIGN} 1.5 = 6 credits"


def test_a_remix_shows_the_price_of_the_remixed_choice(alice):
    image = make_image(alice, model=ULTRA)
    response = client_in(alice).get(reverse("generate"), {"remix": str(image.code)})
    assert price(response) == "Price: 1 \N{MULTIPLICATION SIGN} 1.5 = 1.5 credits"


def test_the_price_follows_the_cost_table(alice, settings):
    settings.PIXELDOJO_MODEL_COSTS = {"flux-pro": Decimal("0.25"), ULTRA: Decimal("1234.5")}
    client = client_in(alice)
    response = client.post(reverse("generate"), {"prompt": "", "model": "flux-pro", "num_outputs": "3"})
    assert price(response) == "Price: 3 \N{MULTIPLICATION SIGN} 0.25 = 0.75 credits"
    response = client.post(reverse("generate"), {"prompt": "", "model": ULTRA, "num_outputs": "2"})
    assert price(response) == "Price: 2 \N{MULTIPLICATION SIGN} 1,234.5 = 2,469 credits"
    assert costs(response)[ULTRA] == "1234.5"
