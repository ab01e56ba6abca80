"""Remix families: a remix records its parent (never one the user cannot see), the image page shows the
family tree with what changed at each step in a bounded number of queries, and the library filters to a
family."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generations.models import Generation
from generations.pixeldojo import GenerationRequest
from generations.services import SubmissionRefused, generation_submit
from library.filters import LibraryFilters
from library.selectors import library_page
from library.selectors_family import MAX_ANCESTORS, MAX_DESCENDANTS, image_family
from teams.permissions import memberships_of
from tests.library.factories import logged_in, make_image, make_remix, make_team

pytestmark = pytest.mark.django_db

MINUS = "\N{MINUS SIGN}"


def submit_form(client, data: dict, *, remix: str = ""):
    """POST the prompt form as the browser does from a remix link (its address keeps ``?remix=``)."""
    fields = {"model": "flux-pro", "aspect_ratio": "1:1", "num_outputs": "1", "megapixels": "1", **data}
    return client.post(reverse("generate") + (f"?remix={remix}&seed=same" if remix else ""), fields)


def test_a_remix_through_the_form_records_its_parent_and_its_family(client, alice):
    root = make_image(alice, prompt="a calm sea at dawn", seed=42)
    logged_in(client, alice)
    html = client.get(reverse("generate") + f"?remix={root.code}&seed=same").content.decode()
    assert f'name="remix_of" value="{root.code}"' in html

    response = submit_form(client, {"prompt": "a stormy sea at dawn", "remix_of": str(root.code)})
    assert response.status_code == 302, response.content.decode()[:2000]
    remix = Generation.objects.get(prompt="a stormy sea at dawn")
    assert remix.remixed_from_id == root.id
    assert remix.family_root == root.generation_id

    child_image = remix.images.create(
        user=alice, index=0, provider_url="http://127.0.0.1:9/x.png", status="stored"
    )
    submit_form(client, {"prompt": "a stormy sea at night", "remix_of": str(child_image.code)})
    grandchild = Generation.objects.get(prompt="a stormy sea at night")
    assert grandchild.remixed_from_id == child_image.id
    assert grandchild.family_root == root.generation_id  # the family's root, not the parent's generation

    submit_form(client, {"prompt": "a quiet field"})  # no remix: the start of its own family
    plain = Generation.objects.get(prompt="a quiet field")
    assert plain.remixed_from_id is None and plain.family_root == plain.id


def test_a_parent_the_user_cannot_see_is_ignored_and_not_leaked(client, alice, bob, make_user):
    bobs = make_image(bob, prompt="bob's secret sketch")
    studio = make_team(make_user("carol"), name="Elsewhere")
    theirs = make_image(studio.created_by, team=studio, prompt="another team's work")
    logged_in(client, alice)
    for n, remix_of in enumerate([str(bobs.code), str(theirs.code), "not-a-uuid", "' OR 1=1 --"]):
        response = submit_form(client, {"prompt": f"alice's own {n}", "remix_of": remix_of})
        assert response.status_code == 302  # queued as an ordinary submission, no error to learn from
        mine = Generation.objects.get(prompt=f"alice's own {n}")
        assert mine.remixed_from_id is None and mine.family_root == mine.id
    assert not bobs.remixes.exists() and not theirs.remixes.exists()
    page = client.get(reverse("image_detail", args=[bobs.code]))
    assert page.status_code == 404

    params = GenerationRequest(prompt="sneaky", model="flux-pro")
    with pytest.raises(SubmissionRefused, match="cannot see the image"):  # the service checks it too
        generation_submit(user=alice, params=params, remix_of=bobs)


def family_html(client, image) -> str:
    html = client.get(reverse("image_detail", args=[image.code])).content.decode()
    section = re.search(r'<section class="family".*?</section>', html, flags=re.S)
    return section.group(0) if section else ""


def entries(html: str, testid: str) -> list[tuple[str, str]]:
    """(image code, change text) of each family entry marked ``testid``."""
    found = re.findall(
        rf'<li data-testid="{testid}">.*?data-code="([0-9a-f-]+)".*?data-testid="family-changes">([^<]*)<',
        html,
        flags=re.S,
    )
    return [(code, " ".join(text.split())) for code, text in found]


def test_the_image_page_shows_ancestors_and_descendants_with_what_changed(client, alice):
    root = make_image(alice, prompt="a calm sea at dawn", seed=42, aspect_ratio="1:1")
    stormy = make_remix(root, prompt="a stormy sea at dawn", seed=7)
    wide = make_remix(stormy, model="flux-1.1-pro", aspect_ratio="16:9", seed=None)
    again = make_remix(wide)
    lonely = make_image(alice, prompt="unrelated")
    logged_in(client, alice)

    html = family_html(client, wide)
    assert entries(html, "family-ancestor") == [
        (str(root.code), "original"),
        (str(stormy.code), f"seed 42 → 7 · prompt +stormy {MINUS}calm"),
    ]
    current = re.search(r'data-testid="family-current">.*?data-testid="family-changes">([^<]*)<', html, re.S)
    assert current.group(1) == "model flux-pro → flux-1.1-pro · new seed · aspect ratio 1:1 → 16:9"
    assert entries(html, "family-child") == [(str(again.code), "new seed")]  # a random seed stays random
    assert f"?family={wide.code}" in html

    html = family_html(client, root)  # from the top: two levels down, the third is left out
    assert entries(html, "family-ancestor") == []
    assert entries(html, "family-child") == [(str(stormy.code), f"seed 42 → 7 · prompt +stormy {MINUS}calm")]
    assert [code for code, _ in entries(html, "family-grandchild")] == [str(wide.code)]
    assert str(again.code) not in html

    assert family_html(client, lonely) == ""  # no family: no section


def test_the_tree_shows_only_images_the_viewer_may_see(client, alice, bob):
    studio = make_team(alice, name="Studio", member=bob)
    personal = make_image(alice, prompt="alice at home")
    shared = make_remix(personal, team=studio, prompt="alice at home for the team")
    in_team = make_remix(shared, user=bob, team=studio, prompt="bob's take")
    private = make_remix(shared, user=alice, team=None, prompt="alice's private take")

    logged_in(client, alice, studio)
    html = family_html(client, shared)
    assert [code for code, _ in entries(html, "family-ancestor")] == [str(personal.code)]
    assert [code for code, _ in entries(html, "family-child")] == [str(in_team.code), str(private.code)]

    logged_in(client, bob, studio)
    html = family_html(client, shared)
    assert entries(html, "family-ancestor") == []  # alice's personal parent is not bob's to see
    assert [code for code, _ in entries(html, "family-child")] == [str(in_team.code)]
    assert str(personal.code) not in html and str(private.code) not in html


def test_the_tree_costs_at_most_five_queries_up_and_two_down(client, alice):
    chain = [make_image(alice, prompt="step 0")]
    for n in range(1, 8):
        chain.append(make_remix(chain[-1], prompt=f"step {n}"))
    deepest, middle = chain[-1], chain[2]
    for n in range(MAX_DESCENDANTS):  # more remixes below the middle than are shown
        child = make_remix(middle, prompt=f"branch {n}")
        make_remix(child, prompt=f"twig {n}")

    memberships_of(alice)  # loaded once per request by the page's header already
    with CaptureQueriesContext(connection) as up:
        family = image_family(user=alice, image=deepest)
    assert len(up) == MAX_ANCESTORS + 1  # five ancestors, then one query finds no remixes below
    assert [member.image.id for member in family.ancestors] == [image.id for image in chain[2:7]]

    with CaptureQueriesContext(connection) as both:
        family = image_family(user=alice, image=middle)
    assert len(both) == 2 + 2  # two ancestors, children, grandchildren
    shown = len(family.children) + sum(len(child.children) for child in family.children)
    assert shown == MAX_DESCENDANTS and family.more
    assert family.children[0].image.id == chain[3].id  # oldest first: the chain's own next step

    logged_in(client, alice)
    lone = make_image(alice, prompt="alone")
    client.get(reverse("image_detail", args=[lone.code]))  # warm the session and the header's caches
    with CaptureQueriesContext(connection) as alone:
        client.get(reverse("image_detail", args=[lone.code]))
    with CaptureQueriesContext(connection) as busy:
        assert client.get(reverse("image_detail", args=[middle.code])).status_code == 200
    assert len(busy) - len(alone) == 3  # the lone image's page asks once for remixes; the middle's 2 + 2


@pytest.fixture
def families(alice, bob, make_user):
    """A team's family (root, two remixes, a grandchild; one remix kept personal) beside other images."""
    carol = make_user("carol")
    studio = make_team(alice, name="Studio", member=bob)
    root = make_image(alice, team=studio, prompt="a lighthouse", days_ago=3)
    storm = make_remix(root, team=studio, prompt="a lighthouse in a storm")
    night = make_remix(root, user=bob, team=studio, prompt="a lighthouse at night")
    stars = make_remix(night, user=bob, team=studio, prompt="a lighthouse at night under stars")
    hidden = make_remix(storm, user=alice, team=None, prompt="a lighthouse kept at home")
    make_image(alice, team=studio, prompt="a lighthouse elsewhere")  # same words, another family
    theirs = make_image(carol, team=make_team(carol, name="Other"), prompt="carol's")
    return {
        "studio": studio,
        "root": root,
        "storm": storm,
        "night": night,
        "stars": stars,
        "hidden": hidden,
        "theirs": theirs,
    }


def codes(page) -> set[str]:
    return {str(image.code) for image in page.images}


def test_the_family_filter_lists_the_whole_tree_and_respects_visibility(bob, alice, families):
    team = families["studio"]
    tree = {str(families[name].code) for name in ("root", "storm", "night", "stars")}

    def family_page(user, image, **filters):
        return library_page(
            user=user, team=team, mine=False, filters=LibraryFilters(family=str(image.code), **filters)
        )

    for member in ("root", "storm", "stars"):  # from any member: the root's whole tree
        assert codes(family_page(bob, families[member])) == tree
    assert codes(family_page(bob, families["night"], q="stars")) == {str(families["stars"].code)}
    assert codes(family_page(bob, families["hidden"])) == set()  # not bob's to see: nothing
    assert codes(family_page(bob, families["theirs"])) == set()
    assert library_page(user=bob, team=team, mine=False, filters=LibraryFilters(family="junk")).images == []
    mine = library_page(
        user=alice, team=None, mine=True, filters=LibraryFilters(family=str(families["stars"].code))
    )
    assert str(families["hidden"].code) in codes(mine)  # alice's own view spans both spaces

    seen, cursor = [], ""
    while True:  # the cursor pages through the family alone, each image once
        page = library_page(
            user=bob,
            team=team,
            mine=False,
            filters=LibraryFilters(family=str(families["stars"].code)),
            cursor=cursor,
            page_size=3,
        )
        seen += [str(image.code) for image in page.images]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(tree) and len(seen) == len(tree)


def test_the_family_filter_on_the_library_page(client, bob, families):
    logged_in(client, bob, families["studio"])
    url = reverse("team_library") + f"?family={families['stars'].code}"
    html = client.get(url).content.decode()
    assert 'data-testid="family-filter"' in html
    assert len(re.findall(r'data-testid="tile"', html)) == 4
    assert f'name="family" value="{families["stars"].code}"' in html  # kept when other filters change
    junk = client.get(reverse("team_library") + "?family=%3Cb%3Ejunk")
    assert junk.status_code == 200
    html = junk.content.decode()
    assert 'data-testid="library-empty"' in html and "<b>junk" not in html
