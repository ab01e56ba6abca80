"""Library reads: scopes, every filter, sorting, keyset pages, and a fixed number of queries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from library.filters import LibraryFilterForm, LibraryFilters
from library.models import Collection, CollectionItem, Favourite, ImageTag, Tag
from library.selectors import library_page
from teams.active import SESSION_KEY
from tests.conftest import PASSWORD
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db


def prompts(page) -> list[str]:
    return [image.generation.prompt for image in page.images]


def page_for(user, *, team=None, mine=True, **filters):
    return library_page(user=user, team=team, mine=mine, filters=LibraryFilters(**filters))


def test_my_images_are_mine_only_and_team_library_is_the_teams(alice, bob, make_user):
    carol = make_user("carol")
    team = make_team(alice, member=bob)
    make_image(alice, prompt="alice personal")
    make_image(alice, team=team, prompt="alice in team")
    make_image(bob, team=team, prompt="bob in team")
    make_image(bob, prompt="bob personal")
    other = make_team(carol, name="Other")
    make_image(carol, team=other, prompt="carol elsewhere")

    assert sorted(prompts(page_for(alice))) == ["alice in team", "alice personal"]
    assert sorted(prompts(page_for(alice, team=team, mine=False))) == ["alice in team", "bob in team"]
    assert prompts(page_for(alice, team=other, mine=False)) == []  # not a member: nothing leaks


def test_each_filter_narrows_and_filters_combine(alice, bob):
    team = make_team(alice, member=bob)
    fox = make_image(alice, team=team, prompt="a red fox in the snow", model="flux-pro", aspect_ratio="16:9")
    make_image(bob, team=team, prompt="a blue whale", model="flux-1.1-pro", aspect_ratio="1:1", days_ago=10)
    make_image(
        bob, team=team, prompt="a red barn", model="flux-1.1-pro", aspect_ratio="1:1", status="expired"
    )
    board = Collection.objects.create(name="Foxes", team=team, created_by=alice)
    CollectionItem.objects.create(collection=board, image=fox)
    ImageTag.objects.create(image=fox, tag=Tag.objects.create(name="winter"))
    Favourite.objects.create(user=bob, image=fox)

    def found(**filters):
        return sorted(prompts(page_for(bob, team=team, mine=False, **filters)))

    assert found(q="red") == ["a red barn", "a red fox in the snow"]
    assert found(q="red fox") == ["a red fox in the snow"]
    assert found(model="flux-1.1-pro") == ["a blue whale", "a red barn"]
    assert found(author="ALICE") == ["a red fox in the snow"]
    assert found(aspect_ratio="1:1") == ["a blue whale", "a red barn"]
    assert found(status="expired") == ["a red barn"]
    assert found(collection=str(board.code)) == ["a red fox in the snow"]
    assert found(collection="not-a-uuid") == []
    assert found(tag="winter") == ["a red fox in the snow"]
    assert found(favourite=True) == ["a red fox in the snow"]
    assert page_for(alice, team=team, mine=False, favourite=True).images == []  # favourites are per user
    today = timezone.localdate()
    assert found(date_from=today - timedelta(days=11), date_to=today - timedelta(days=9)) == ["a blue whale"]
    assert found(q="red", model="flux-1.1-pro", status="expired") == ["a red barn"]


def test_sorting_newest_oldest_and_favourites_first(alice):
    old = make_image(alice, prompt="old", days_ago=3)
    make_image(alice, prompt="middle", days_ago=2)
    make_image(alice, prompt="new", days_ago=1)
    Favourite.objects.create(user=alice, image=old)
    assert prompts(page_for(alice)) == ["new", "middle", "old"]
    assert prompts(page_for(alice, sort="oldest")) == ["old", "middle", "new"]
    assert prompts(page_for(alice, sort="favourites")) == ["old", "new", "middle"]


@pytest.mark.parametrize("sort", ["newest", "oldest", "favourites"])
def test_keyset_pages_cover_everything_exactly_once(alice, sort):
    images = [make_image(alice, prompt=f"p{n}", days_ago=n % 5) for n in range(23)]  # ties on created_at
    for image in images[::4]:
        Favourite.objects.create(user=alice, image=image)
    seen, cursor = [], ""
    while True:
        page = library_page(
            user=alice, team=None, mine=True, filters=LibraryFilters(sort=sort), cursor=cursor, page_size=5
        )
        seen += [image.id for image in page.images]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(image.id for image in images)
    assert len(seen) == len(set(seen))
    whole = library_page(user=alice, team=None, mine=True, filters=LibraryFilters(sort=sort), page_size=100)
    assert seen == [image.id for image in whole.images]


@pytest.mark.parametrize(
    ("sort", "favourite"), [("favourites", False), ("newest", True), ("oldest", True), ("favourites", True)]
)
def test_team_favourites_are_paged_from_the_users_favourites_in_that_team(
    alice, bob, make_user, sort, favourite
):
    """A team's favourites come from the favourite's copies of the image's team and time: only this user's,
    only this team's, in the page order, each once, and the same whatever the page size."""
    team, elsewhere = (
        make_team(alice, member=bob),
        make_team(make_user("carol"), name="Elsewhere", member=alice),
    )
    images = [
        make_image(alice if n % 2 else bob, team=team, prompt=f"p{n}", days_ago=n % 6) for n in range(25)
    ]
    liked = images[::3]
    for image in liked:
        Favourite.objects.create(user=alice, image=image)
    Favourite.objects.create(user=bob, image=images[1])  # someone else's favourite
    Favourite.objects.create(user=alice, image=make_image(alice, team=elsewhere, prompt="other team"))
    Favourite.objects.create(user=alice, image=make_image(alice, prompt="personal"))
    filters = LibraryFilters(sort=sort, favourite=favourite)

    seen, cursor = [], ""
    while True:
        page = library_page(user=alice, team=team, mine=False, filters=filters, cursor=cursor, page_size=4)
        seen += [image.id for image in page.images]
        if not page.next_cursor:
            break
        cursor = page.next_cursor

    def newest(image):
        return (image.created_at, image.id)

    expected = sorted(liked, key=newest, reverse=sort != "oldest")
    if not favourite:
        expected += sorted(set(images) - set(liked), key=newest, reverse=True)
    assert seen == [image.id for image in expected]
    whole = library_page(user=alice, team=team, mine=False, filters=filters, page_size=100)
    assert [image.id for image in whole.images] == seen
    assert all(image.is_favourite == (image in liked) for image in whole.images)


def test_a_favourite_copies_its_images_team_and_time(alice):
    team = make_team(alice)
    image = make_image(alice, team=team, days_ago=40)
    favourite = Favourite.objects.create(user=alice, image=image)
    favourite.refresh_from_db()
    assert (favourite.team_id, favourite.image_created_at) == (team.id, image.created_at)


def test_filter_form_reads_the_url_and_reports_bad_dates():
    form = LibraryFilterForm(
        {"q": "  red   fox ", "date_from": "2026-05-02", "date_to": "2026-05-01", "tag": "Winter"}
    )
    assert not form.is_valid()
    assert "date_to" in form.errors
    filters = form.to_filters()
    assert (filters.q, filters.tag, filters.date_from, filters.date_to) == (
        "red fox",
        "winter",
        date(2026, 5, 2),
        None,
    )


def test_library_page_issues_the_same_queries_whatever_the_page_size(client, alice):
    team = make_team(alice)
    client.login(username="alice", password=PASSWORD)
    session = client.session
    session[SESSION_KEY] = str(team.code)
    session.save()

    def queries(url: str) -> int:
        client.get(url)  # the header's values and the collection names are cached from now on
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
            assert response.status_code == 200
        return len(ctx.captured_queries)

    make_image(alice, team=team)
    few_mine, few_team = queries(reverse("my_images")), queries(reverse("team_library"))
    for n in range(60):
        image = make_image(alice, team=team, prompt=f"image {n}")
        if n % 3 == 0:
            Favourite.objects.create(user=alice, image=image)
    assert queries(reverse("my_images")) == few_mine
    assert queries(reverse("team_library")) == few_team
    # Favourites first: the favourites, then (on a page that reaches past them) the others: one more query.
    assert queries(reverse("team_library") + "?q=image&sort=favourites&model=flux-pro") == few_team + 1


def _queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        assert response.status_code == 200
    return [query["sql"] for query in ctx.captured_queries]


@pytest.mark.parametrize("page", ["my_images", "team_library"])
def test_a_library_page_costs_at_most_four_queries_once_its_header_is_cached(client, alice, page):
    """User, memberships, images (a second images query for favourites first); the session (issue 18), the
    header's spend and pause and the collection names come from the cache after the first page (7 queries
    before issue 13, 5 before issue 18)."""
    team = make_team(alice)
    Collection.objects.create(name="Picks", team=team, created_by=alice)
    Collection.objects.create(name="Mine", team=None, created_by=alice)
    for n in range(5):
        make_image(alice, team=team, prompt=f"image {n}")
    client.login(username="alice", password=PASSWORD)
    session = client.session
    session[SESSION_KEY] = str(team.code)
    session.save()
    first = _queries(client, reverse(page))
    assert len(first) <= 8
    for url in (reverse(page), reverse(page) + "?sort=favourites&q=image", reverse(page) + "?sort=oldest"):
        queries = _queries(client, url)
        assert len(queries) <= 4, "\n".join(queries)


def test_filters_survive_in_the_load_more_link(client, alice):
    for n in range(50):
        make_image(alice, prompt=f"fox number {n}")
    client.login(username="alice", password=PASSWORD)
    html = client.get(reverse("my_images") + "?q=fox&sort=oldest").content.decode()
    assert 'data-testid="load-more"' in html
    link = html.split('data-testid="load-more" href="')[1].split('"')[0].replace("&amp;", "&")
    assert "q=fox" in link and "sort=oldest" in link and "cursor=" in link
    second = client.get(reverse("my_images") + link).content.decode()
    assert "fox number 48" in second and "fox number 0<" not in second
