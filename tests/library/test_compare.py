"""The compare page: 2 to 4 images the user may see, each with its parameters, the differing ones marked."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generations.models import Generation
from tests.conftest import PASSWORD
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db


def compare_url(*images) -> str:
    return reverse("library_compare") + "?images=" + ",".join(str(image.code) for image in images)


@pytest.fixture
def logged_in(client, alice):
    client.login(username="alice", password=PASSWORD)
    return client


def items(html: str) -> list[str]:
    return re.findall(r'data-testid="compare-item" data-code="([0-9a-f-]+)"', html)


def differing(html: str) -> list[str]:
    """The labels marked as differing, in page order (each image repeats them)."""
    return re.findall(r'<dt class="differs">([^<]+)</dt>', html)


def test_two_images_side_by_side_with_labels_the_differences_and_a_slider(logged_in, alice):
    fox = make_image(alice, prompt="a red fox", model="flux-pro", aspect_ratio="16:9", seed=7)
    barn = make_image(alice, prompt="a red barn", model="flux-1.1-pro", aspect_ratio="16:9", seed=None)
    response = logged_in.get(compare_url(barn, fox))
    html = response.content.decode()
    assert response.status_code == 200
    assert items(html) == [str(barn.code), str(fox.code)]  # the order asked for
    assert "FLUX 1.1 Pro — improved detail and coherence" in html and "FLUX Pro — standard" in html
    assert "<dt>Aspect ratio</dt><dd>16:9</dd>" in html  # the same in both: a label, not highlighted
    assert "aspect_ratio" not in html and "num_outputs" not in html  # labels, never API names
    assert differing(html) == ["Model", "Seed"] * 2  # barn has no seed: shown as "—" and marked
    assert '<dd class="differs" data-testid="differs">—' in html
    assert html.count('data-testid="compare-prompt"') == 2 and "prompt-title differs" in html
    assert 'data-testid="compare-range"' in html and 'type="range"' in html


def test_three_or_four_images_have_no_slider_and_duplicates_count_once(logged_in, alice):
    images = [make_image(alice, prompt=f"image {n}") for n in range(4)]
    html = logged_in.get(compare_url(*images)).content.decode()
    assert items(html) == [str(image.code) for image in images]
    assert 'data-testid="compare-range"' not in html and 'class="compare-grid n4"' in html
    assert differing(html) == []  # same parameters; only the prompts differ
    html = logged_in.get(compare_url(images[0], images[1], images[0], images[2])).content.decode()
    assert items(html) == [str(images[0].code), str(images[1].code), str(images[2].code)]


@pytest.mark.parametrize("count", [0, 1, 5])
def test_too_few_or_too_many_images_is_a_clear_error_in_the_layout(logged_in, alice, count):
    images = [make_image(alice, prompt=f"image {n}") for n in range(count)]
    response = logged_in.get(compare_url(*images))
    html = response.content.decode()
    assert response.status_code == 400
    assert '<header class="topbar">' in html and 'data-testid="compare-error"' in html
    assert f"Select 2 to 4 different images to compare ({count} selected)." in html


def test_the_same_image_twice_is_one_image(logged_in, alice):
    image = make_image(alice)
    response = logged_in.get(compare_url(image, image))
    assert response.status_code == 400
    assert "(1 selected)" in response.content.decode()


@pytest.mark.parametrize(
    "value",
    ["not-a-code", "1,2", "%00", "'; drop table x;--", "x" * 5000, "😀,😀"],
)
def test_a_bad_code_is_a_clear_error_never_a_500(logged_in, alice, value):
    image = make_image(alice)
    response = logged_in.get(reverse("library_compare"), {"images": f"{image.code},{value}"})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="compare-error"' in html and "topbar" in html


def test_no_parameter_at_all_is_a_clear_error(logged_in):
    response = logged_in.get(reverse("library_compare"))
    assert response.status_code == 400
    assert "(0 selected)" in response.content.decode()


def test_someone_elses_image_is_not_found_and_not_shown(logged_in, alice, bob):
    mine = make_image(alice, prompt="my harbour")
    theirs = make_image(bob, prompt="bob's secret lighthouse")
    studio = make_team(bob)
    team_image = make_image(bob, team=studio, prompt="the studio's secret")
    for other in (theirs, team_image):
        response = logged_in.get(compare_url(mine, other))
        html = response.content.decode()
        assert response.status_code == 404
        assert 'data-testid="error-404"' in html
        assert "secret" not in html and "my harbour" not in html


def test_a_teammates_image_compares_with_my_own(client, alice, bob):
    studio = make_team(alice, viewer=bob)
    theirs = make_image(alice, team=studio, prompt="alice's studio image")
    mine = make_image(bob, prompt="bob's own image")
    client.login(username="bob", password=PASSWORD)
    response = client.get(compare_url(theirs, mine))
    assert response.status_code == 200
    assert items(response.content.decode()) == [str(theirs.code), str(mine.code)]


def test_anonymous_visitors_are_sent_to_log_in(client, alice):
    images = [make_image(alice), make_image(alice)]
    response = client.get(compare_url(*images))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_page_issues_the_same_few_queries_for_two_or_four_images(logged_in, alice):
    images = [make_image(alice, prompt=f"image {n}") for n in range(4)]

    def queries(*chosen) -> list[str]:
        logged_in.get(compare_url(*chosen))  # warm: the header's values are cached from the first request on
        with CaptureQueriesContext(connection) as ctx:
            assert logged_in.get(compare_url(*chosen)).status_code == 200
        return [query["sql"] for query in ctx.captured_queries]

    two, four = queries(*images[:2]), queries(*images)
    assert len(two) == len(four) == 3, "\n".join(four)  # user, memberships, images (the session: cache)
    assert sum('"generations_image"' in sql for sql in four) == 1  # one query loads every image


def test_the_bulk_bar_sends_two_to_four_selected_images_to_the_compare_page(logged_in, alice):
    images = [make_image(alice, prompt=f"image {n}") for n in range(5)]
    codes = [str(image.code) for image in images]
    response = logged_in.post(reverse("library_bulk"), {"action": "compare", "images": codes[:3]})
    assert response.status_code == 302
    assert response["Location"] == reverse("library_compare") + "?images=" + ",".join(codes[:3])
    for chosen in (codes[:1], codes):
        data = {"action": "compare", "images": chosen}
        response = logged_in.post(reverse("library_bulk"), data, follow=True)
        assert "Select 2 to 4 images to compare." in response.content.decode()
    assert Generation.objects.count() == 5  # comparing changes nothing


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(max_size=300) | st.lists(st.uuids().map(str), max_size=6).map(",".join))
def test_no_images_parameter_is_a_server_error(logged_in, alice, value):
    response = logged_in.get(reverse("library_compare"), {"images": value})
    assert response.status_code in (200, 400, 404), (value, response.status_code)
    assert b'<header class="topbar">' in response.content
