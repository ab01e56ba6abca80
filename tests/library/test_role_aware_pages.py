"""Library pages offer each role only the controls it may use, and still refuse, with the reason, what it
may not do; the image page lists the collections that hold the image; an empty collection says so."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generations.models import Image
from library.models import Collection, CollectionItem
from teams.active import SESSION_KEY
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db

ROLES = ("owner", "admin", "member", "viewer")
LAYOUT = '<header class="topbar">'


@pytest.fixture
def studio(alice, make_user):
    """alice owns Studio (with an admin, a member and a viewer); an image by alice and one by the member."""
    people = {"owner": alice, **{role: make_user(role) for role in ROLES[1:]}}
    team = make_team(alice, admin=people["admin"], member=people["member"], viewer=people["viewer"])
    images = {
        "owner": make_image(alice, team=team, prompt="the owner's lighthouse"),
        "member": make_image(people["member"], team=team, prompt="the member's harbour"),
    }
    board = Collection.objects.create(name="Harbours", team=team, created_by=alice)
    return team, people, images, board


def as_(client, user, team=None):
    client.force_login(user)
    if team is not None:
        session = client.session
        session[SESSION_KEY] = str(team.code)
        session.save()
    return client


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def shown(html: str, *names: str) -> dict[str, bool]:
    return {name: f'data-testid="{name}"' in html for name in names}


CONTROLS = ("remix-same", "remix-new", "tags-input", "add-to-collection", "delete", "favourite", "download")


@pytest.mark.parametrize(
    ("role", "author", "offered"),
    [
        ("owner", "member", {"remix-same", "remix-new", "tags-input", "add-to-collection", "delete"}),
        ("admin", "owner", {"remix-same", "remix-new", "tags-input", "add-to-collection", "delete"}),
        ("member", "member", {"remix-same", "remix-new", "tags-input", "add-to-collection", "delete"}),
        ("member", "owner", {"remix-same", "remix-new", "tags-input", "add-to-collection"}),
        ("viewer", "owner", set()),
    ],
)
def test_the_image_page_offers_only_the_controls_the_role_may_use(client, studio, role, author, offered):
    team, people, images, _ = studio
    html = html_of(as_(client, people[role], team).get(reverse("image_detail", args=[images[author].code])))
    always = {"favourite", "download"}  # everyone who sees an image may favourite and download it
    assert shown(html, *CONTROLS) == {name: name in offered | always for name in CONTROLS}
    refusal = "No remix: You are a viewer in Studio: viewers cannot generate there."
    assert (refusal in html) is (role == "viewer")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("image_tags", {"tags": "nope"}, "You cannot tag this image."),
        ("image_collect", {"collection": "{board}"}, "You cannot change this collection."),
        ("image_delete", {}, "Only the author or a team admin can delete this image."),
    ],
)
def test_a_viewers_post_is_still_refused_with_the_reason_in_the_layout(client, studio, name, data, reason):
    team, people, images, board = studio
    image = images["owner"]
    data = {key: value.format(board=board.code) for key, value in data.items()}
    response = as_(client, people["viewer"], team).post(reverse(name, args=[image.code]), data)
    assert response.status_code == 403
    page = response.content.decode()
    assert LAYOUT in page and 'data-testid="error-403"' in page and reason in page
    assert Image.objects.filter(id=image.id, image_tags__isnull=True).exists()
    assert not CollectionItem.objects.exists()


@pytest.mark.parametrize(
    ("role", "bulk_delete", "rule", "deletable"),
    [
        ("owner", True, False, {"the owner's lighthouse", "the member's harbour"}),
        ("admin", True, False, {"the owner's lighthouse", "the member's harbour"}),
        ("member", True, True, {"the member's harbour"}),
        ("viewer", False, False, set()),
    ],
)
def test_the_bulk_bar_offers_delete_and_collections_only_where_allowed(
    client, studio, role, bulk_delete, rule, deletable
):
    team, people, images, _ = studio
    html = html_of(as_(client, people[role], team).get(reverse("team_library")))
    assert shown(html, "bulk-delete", "delete-rule", "bulk-collection") == {
        "bulk-delete": bulk_delete,
        "delete-rule": rule,
        "bulk-collection": role != "viewer",
    }
    marked = {
        image.generation.prompt
        for image in images.values()
        if f'value="{image.code}" form="bulk-form" aria-label="Select image" data-deletable>' in html
    }
    assert marked == deletable


def test_a_bulk_delete_with_someone_elses_image_is_refused_in_the_library_page(client, studio):
    team, people, images, _ = studio
    as_(client, people["member"], team)
    back = reverse("team_library") + "?sort=oldest"  # the redirect keeps the query
    data = {"action": "delete", "images": [str(i.code) for i in images.values()], "next": back}
    response = client.post(reverse("library_bulk"), data)
    assert response.status_code == 302 and response["Location"] == back
    html = html_of(client.get(back))
    assert (
        '<div class="flash error" role="status">Only the author or a team admin can delete this image. '
        "Nothing was changed.</div>" in html
    )
    assert 'data-testid="library-grid"' in html  # the library page, in the site's layout
    assert Image.objects.count() == 2  # all or nothing
    # A viewer's bulk "add to collection" (not offered) is refused the same way.
    as_(client, people["viewer"], team)
    data = {"action": "collect", "collection": str(studio[3].code), "images": [str(images["owner"].code)]}
    html = html_of(client.post(reverse("library_bulk"), {**data, "next": back}, follow=True))
    assert "You cannot change this collection. Nothing was changed." in html
    assert not CollectionItem.objects.exists()


def test_the_image_page_lists_its_collections_and_offers_only_the_others(client, studio):
    team, people, images, harbours = studio
    image = images["member"]
    lights = Collection.objects.create(name="Lights", team=team, created_by=people["owner"])
    night = Collection.objects.create(name="Night", team=team, created_by=people["owner"])
    Collection.objects.create(name="Elsewhere", created_by=people["member"])  # personal: not for team images
    for board in (harbours, lights):
        CollectionItem.objects.create(collection=board, image=image)
    url = reverse("image_detail", args=[image.code])
    html = html_of(as_(client, people["member"], team).get(url))
    assert (
        '<p data-testid="in-collections">In collections: '
        f'<a href="/collections/{harbours.code}/">Harbours</a>, '
        f'<a href="/collections/{lights.code}/">Lights</a></p>' in html
    )
    select = html.split('data-testid="collection-select">', 1)[1].split("</select>", 1)[0]
    assert select == f'<option value="{night.code}">Night</option>'

    response = client.post(
        reverse("collection_edit", args=[lights.code]),
        {"operation": "remove", "image": str(image.code), "next": url},
    )
    assert response.status_code == 302 and response["Location"] == url
    html = html_of(client.get(url))
    assert "Removed from “Lights”." in html
    assert f'In collections: <a href="/collections/{harbours.code}/">Harbours</a></p>' in html
    assert 'data-testid="remove-from-collection">Remove from “Harbours”</button>' in html

    viewer = html_of(as_(client, people["viewer"], team).get(url))  # a viewer reads, without the controls
    assert "In collections: " in viewer and "remove-from-collection" not in viewer


def test_the_image_page_queries_do_not_grow_with_collections(client, studio):
    team, people, images, _ = studio
    image = images["owner"]
    url = reverse("image_detail", args=[image.code])
    as_(client, people["owner"], team)

    def queries() -> int:
        client.get(url)  # warm: the header's values are cached from the first request on
        with CaptureQueriesContext(connection) as ctx:
            html_of(client.get(url))
        return len(ctx.captured_queries)

    few = queries()
    for n in range(12):
        board = Collection.objects.create(name=f"Board {n}", team=team, created_by=people["owner"])
        if n % 2:
            CollectionItem.objects.create(collection=board, image=image)
    assert queries() == few


def test_an_empty_collection_says_so_and_how_to_add_images(client, studio):
    team, people, _, harbours = studio
    url = reverse("collection_detail", args=[harbours.code])
    html = html_of(as_(client, people["member"], team).get(url))
    empty = html.split('data-testid="library-empty">', 1)[1].split("</p>", 1)[0]
    assert empty.startswith("“Harbours” is empty. To add images, select them in the ")
    assert f'<a href="{reverse("team_library")}">team library</a>' in empty
    assert "No images match" not in html and 'data-testid="clear-filters"' not in html

    filtered = html_of(client.get(url + "?q=nothing"))
    assert "No images match these filters." in filtered and 'data-testid="clear-filters"' in filtered

    viewer = html_of(as_(client, people["viewer"], team).get(url))  # told it is empty, not how to add
    assert "“Harbours” is empty.</p>" in viewer

    personal = Collection.objects.create(name="Mine", created_by=people["member"])
    html = html_of(as_(client, people["member"]).get(reverse("collection_detail", args=[personal.code])))
    assert f'select them in <a href="{reverse("my_images")}">My images</a>' in html
