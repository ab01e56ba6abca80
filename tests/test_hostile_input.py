"""What an outside probe sends: odd dates, forged cursors and off-site ``next`` URLs never give a 5xx.

The probe's own requests are replayed as regression tests; Hypothesis then throws text, dates at the ends of
the calendar, huge numbers, unicode and forged cursors at every parameter of the library pages and the export.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from library.filters import LibraryFilterForm
from library.models import Collection
from tests.credits.helpers import client_in
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db

HYPOTHESIS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def cursor_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.fixture
def world(alice):
    """Alice in a team with a board; images of the team, of her own and of another team; her client."""
    team, other = make_team(alice), make_team(alice, name="Other")
    board = Collection.objects.create(name="Board", team=team, created_by=alice)
    images = {
        "team": make_image(alice, team=team, prompt="team picture"),
        "older": make_image(alice, team=team, prompt="older picture", days_ago=3),
        "personal": make_image(alice, prompt="personal picture"),
        "other": make_image(alice, team=other, prompt="other team picture"),
    }
    board.items.create(image=images["team"], added_by=alice)
    return {"client": client_in(alice, team), "team": team, "board": board, "images": images}


def library_pages(world) -> list[str]:
    return [
        reverse("my_images"),
        reverse("team_library"),
        reverse("collection_detail", args=[world["board"].code]),
    ]


# The probe's requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["my_images", "team_library"])
@pytest.mark.parametrize(
    "query",
    [
        {"date_to": "9999-12-31"},
        {"date_from": "0001-01-01", "date_to": "9999-12-31"},
        {"cursor": cursor_of([0, "0001-01-01T00:00:00+14:00", 1])},
        {"cursor": cursor_of([0, "9999-12-31T23:59:59-14:00", 1])},
        {"cursor": cursor_of([1, "9999-12-31T23:59:59-14:00", 1]), "sort": "favourites"},
        {"cursor": cursor_of([0, "0001-01-01T00:00:00+14:00", 1]), "sort": "oldest"},
        {"cursor": cursor_of([0, "2026-01-01T00:00:00+00:00", 10**40])},
        {"cursor": cursor_of([0, "2026-01-01T00:00:00", 1])},  # naive: not one of ours
    ],
)
def test_the_probes_dates_and_cursors_answer_the_page(world, page, query):
    response = world["client"].get(reverse(page), query)
    assert response.status_code == 200
    html = response.content.decode()
    assert "team picture" in html or "personal picture" in html  # the first page, everything in range


def test_a_date_beyond_the_calendar_is_told_beside_the_field(world):
    response = world["client"].get(reverse("my_images"), {"date_to": "10000-01-01"})
    assert response.status_code == 200
    assert response.context["form"].errors["date_to"] == ["Enter a valid date."]
    assert "Enter a valid date." in response.content.decode()


def test_the_probes_export_answers_a_csv(world):
    response = world["client"].get(reverse("credits:team_export"), {"from": "2026-01-01", "to": "9999-12-31"})
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode().startswith("date_time,")


EVIL_NEXT = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "javascript:alert(1)",
    "http:evil",
]


@pytest.mark.parametrize("evil", EVIL_NEXT)
@pytest.mark.parametrize("where", ["post", "query"])
def test_favourite_never_sends_you_off_site(world, evil, where):
    image = world["images"]["team"]
    url = reverse("image_favourite", args=[image.code])
    data = {"favourite": "1"}
    if where == "post":
        data["next"] = evil
    else:
        url += "?" + urlencode({"next": evil})
    response = world["client"].post(url, data)
    assert response.status_code == 302
    assert response["Location"] == reverse("image_detail", args=[image.code])


@pytest.mark.parametrize("evil", EVIL_NEXT)
def test_bulk_never_sends_you_off_site(world, evil):
    image = world["images"]["team"]
    data = {"action": "collect", "collection": str(world["board"].code), "images": [str(image.code)]}
    response = world["client"].post(reverse("library_bulk"), {**data, "next": evil})
    assert response.status_code == 302
    assert response["Location"] == reverse("my_images")


@pytest.mark.parametrize("evil", EVIL_NEXT)
@pytest.mark.parametrize("where", ["post", "query"])
def test_a_board_edit_never_sends_you_off_site(world, evil, where):
    board, image = world["board"], world["images"]["team"]
    url = reverse("collection_edit", args=[board.code])
    data = {"operation": "cover", "image": str(image.code)}
    if where == "post":
        data["next"] = evil
    else:
        url += "?" + urlencode({"next": evil})
    response = world["client"].post(url, data)
    assert response.status_code == 302
    assert response["Location"] == reverse("collection_detail", args=[board.code])


@pytest.mark.parametrize("evil", EVIL_NEXT)
def test_a_refused_bulk_action_never_sends_you_off_site_either(world, evil):
    """The form's own refusal (no action given) goes back to the library, never off-site."""
    images = [str(world["images"]["team"].code)]
    response = world["client"].post(reverse("library_bulk"), {"images": images, "next": evil})
    assert response.status_code == 302
    assert response["Location"] == reverse("my_images")


def test_a_next_on_this_site_is_followed(world):
    image = world["images"]["team"]
    back = reverse("team_library") + "?tag=sea&sort=oldest"
    favourite = world["client"].post(reverse("image_favourite", args=[image.code]), {"next": back})
    assert favourite["Location"] == back
    bulk = world["client"].post(reverse("library_bulk"), {"action": "delete", "images": [], "next": back})
    assert bulk["Location"] == back


def test_on_https_a_plain_http_next_of_this_site_is_refused(world):
    image = world["images"]["team"]
    url = reverse("image_favourite", args=[image.code])
    response = world["client"].post(url, {"next": "http://testserver/library/"}, secure=True)
    assert response["Location"] == reverse("image_detail", args=[image.code])


# Whatever else is sent -------------------------------------------------------------------------------------

UNICODE = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # surrogates cannot be sent
EXTREME_DATES = st.sampled_from([date.min, date.max, date(1970, 1, 1), date(2026, 2, 28), date(9999, 12, 30)])
DATES = st.one_of(EXTREME_DATES, st.dates()).map(date.isoformat)
HUGE = st.one_of(st.integers(), st.integers(min_value=10**18, max_value=10**60), st.just(-(2**63)))
ODD_TEXT = st.one_of(
    UNICODE,
    DATES,
    HUGE.map(str),
    st.sampled_from(
        ["", " ", "0000-00-00", "10000-01-01", "2026-02-30", "-1", "1e309", "NaN", "\x00", "%00"]
    ),
)
MOMENTS = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    st.one_of(st.sampled_from([datetime.min, datetime.max]), st.datetimes()),
    st.integers(min_value=-1439, max_value=1439),
)
CURSORS = st.one_of(
    st.builds(cursor_of, st.lists(st.one_of(HUGE, MOMENTS, UNICODE, st.none(), st.booleans()), max_size=4)),
    st.builds(lambda *parts: cursor_of(list(parts)), st.one_of(HUGE, st.booleans()), MOMENTS, HUGE),
    st.binary(max_size=120).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=150, max_size=400),
    UNICODE,
)
LIBRARY_PARAMETERS = [*LibraryFilterForm.base_fields, "cursor", "fragment"]
LIBRARY_QUERIES = st.dictionaries(
    st.sampled_from(LIBRARY_PARAMETERS),
    st.one_of(ODD_TEXT, CURSORS, st.sampled_from(["newest", "oldest", "favourites", "on", "1"])),
    max_size=len(LIBRARY_PARAMETERS),
)


@HYPOTHESIS
@given(page=st.integers(min_value=0, max_value=2), query=LIBRARY_QUERIES)
def test_no_library_query_is_a_server_error(world, page, query):
    response = world["client"].get(library_pages(world)[page], query)
    assert response.status_code == 200  # bad values are told beside their field or ignored


@HYPOTHESIS
@given(
    page=st.integers(min_value=0, max_value=2),
    sort=st.sampled_from(["newest", "oldest", "favourites"]),
    cursor=CURSORS,
    date_from=st.one_of(st.none(), DATES),
    date_to=st.one_of(st.none(), DATES),
)
def test_no_cursor_or_date_range_is_a_server_error(world, page, sort, cursor, date_from, date_to):
    query = {"sort": sort, "cursor": cursor, "date_from": date_from or "", "date_to": date_to or ""}
    assert world["client"].get(library_pages(world)[page], query).status_code == 200


@HYPOTHESIS
@given(start=st.one_of(DATES, ODD_TEXT), end=st.one_of(DATES, ODD_TEXT))
def test_no_export_range_is_a_server_error(world, start, end):
    response = world["client"].get(reverse("credits:team_export"), {"from": start, "to": end})
    if iso_day(start) and iso_day(end) and iso_day(start) <= iso_day(end):
        assert response.status_code == 200
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert b"".join(response.streaming_content).decode().startswith("date_time,")  # rows are read too
    else:
        assert 'data-testid="export-error"' in response.content.decode()


OTHER_PARAMETERS = [  # every other query parameter a page reads: (URL name, parameter)
    ("credits:mine", "days"),
    ("credits:team", "days"),
    ("gallery", "page"),
    ("generate", "remix"),
    ("generate", "seed"),
]


@HYPOTHESIS
@given(which=st.sampled_from(OTHER_PARAMETERS), value=st.one_of(ODD_TEXT, CURSORS))
def test_no_other_query_parameter_is_a_server_error(world, which, value):
    name, parameter = which
    response = world["client"].get(reverse(name), {parameter: value})
    assert response.status_code in (200, 404), (name, parameter, value)  # 404: a remix of no such image


def iso_day(text: str) -> date | None:
    """``text`` as a day when it is written YYYY-MM-DD."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def test_an_anonymous_probe_is_sent_to_log_in():
    response = Client().get(reverse("my_images"), {"date_to": "9999-12-31"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
