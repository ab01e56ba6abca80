"""Similar images: the band lookup equals a full Hamming scan, who sees what, the image page's strip, the
library's "collapse near-duplicates" switch, and ``manage.py backfill_image_hashes``."""

from __future__ import annotations

import io
import random

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generations.imaging import verify_image
from generations.models import Generation, Image
from generations.services import image_storage_names
from generations.similarity import (
    SIMILAR_DISTANCE,
    band_fields,
    band_probes,
    bands,
    distance,
    to_signed,
    to_unsigned,
)
from library.selectors import PAGE_SIZE
from library.selectors_similar import band_candidates, nearest_ids, similar_images
from sandbox.render import render_png
from teams.permissions import memberships_of
from tests.library.factories import logged_in, make_image, make_team

pytestmark = pytest.mark.django_db

HASHES = st.integers(min_value=0, max_value=2**64 - 1)


def flip(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


def store_picture(image: Image, png: bytes) -> Image:
    """``image`` stored as the worker stores it: its files at their keys and the hash of its thumbnail."""
    verified = verify_image(png)
    names = image_storage_names(image, verified.extension)
    for name, data in zip(names, (verified.data, verified.thumbnail, verified.thumbnail_small), strict=True):
        default_storage.save(name, ContentFile(data))
    Image.objects.filter(id=image.id).update(
        file=names[0],
        thumbnail=names[1],
        thumbnail_small=names[2],
        width=verified.width,
        height=verified.height,
        **band_fields(verified.phash),
    )
    image.refresh_from_db()
    return image


def sandbox_picture(prompt: str, index: int = 1) -> bytes:
    """What the sandbox serves for output ``index`` of ``prompt`` with near-duplicates on."""
    return render_png(prompt, 7, "flux-pro", "1:1", "0.25", index, True)


def with_hash(image: Image, phash: int) -> Image:
    Image.objects.filter(id=image.id).update(**band_fields(to_signed(phash)))
    image.refresh_from_db()
    return image


# --- The arithmetic --------------------------------------------------------------------------------------


@given(value=HASHES)
def test_a_hash_survives_the_signed_bigint_and_its_bands_rebuild_it(value):
    signed = to_signed(value)
    assert -(2**63) <= signed < 2**63 and to_unsigned(signed) == value
    high, b1, b2, low = bands(signed)
    assert (high << 48) | (b1 << 32) | (b2 << 16) | low == value
    assert distance(signed, value) == 0


@given(query=HASHES, other=HASHES, radius=st.integers(min_value=0, max_value=14))
def test_every_hash_within_the_radius_shares_a_probed_band(query, other, radius):
    """The pigeonhole rule the lookup relies on, including hashes far from random (near the query)."""
    probes = [set(values) for values in band_probes(query, radius)]
    shares = any(band in probes[i] for i, band in enumerate(bands(other)))
    if distance(query, other) <= radius:
        assert shares


@given(query=HASHES, bits=st.lists(st.integers(0, 63), max_size=14), radius=st.integers(0, 14))
def test_every_hash_within_the_radius_shares_a_probed_band_near_the_query(query, bits, radius):
    other = flip(query, bits)
    probes = [set(values) for values in band_probes(query, radius)]
    assert (distance(query, other) <= radius) <= any(band in probes[i] for i, band in enumerate(bands(other)))


# --- The lookup in the database equals a full scan --------------------------------------------------------


@pytest.fixture
def population(db, alice):
    """A team of 600 images: random hashes, and clusters planted 0 to 16 bits around 20 centres."""
    team = make_team(alice)
    generation = Generation.objects.create(user=alice, team=team, prompt="many", model="flux-pro")
    rng = random.Random(17)
    centres = [rng.getrandbits(64) for _ in range(20)]
    hashes = [rng.getrandbits(64) for _ in range(300)]
    hashes += [flip(rng.choice(centres), rng.sample(range(64), rng.randint(0, 16))) for _ in range(300)]
    Image.objects.bulk_create(
        Image(
            generation=generation,
            user=alice,
            team=team,
            index=n,
            provider_url="http://127.0.0.1:9/x.png",
            status="stored",
            **band_fields(to_signed(value)),
        )
        for n, value in enumerate(hashes)
    )
    rows = list(Image.objects.filter(team=team).values_list("id", "phash"))
    return team, centres, rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_band_lookup_returns_exactly_what_a_full_scan_finds(population, data):
    team, centres, rows = population
    query = data.draw(st.one_of(HASHES, st.sampled_from(centres), st.sampled_from([h for _, h in rows])))
    query = flip(query, data.draw(st.lists(st.integers(0, 63), max_size=8)))
    radius = data.draw(st.integers(min_value=0, max_value=12))

    in_team = Q(team_id=team.id)
    found = nearest_ids(in_team, to_signed(query), radius=radius)

    scanned = sorted((d, image_id) for image_id, value in rows if (d := distance(query, value)) <= radius)
    assert found == scanned
    # and it read candidates through the bands, not the whole team
    assert band_candidates(in_team, to_signed(query), radius).count() < len(rows)


# --- Who sees what ---------------------------------------------------------------------------------------


def test_the_nearest_of_the_team_only_nearest_first_without_the_image_itself(alice, bob, make_user):
    carol = make_user("carol")
    team = make_team(alice, member=bob)
    other = make_team(carol, name="Elsewhere")
    base = random.Random(3).getrandbits(64)
    image = with_hash(make_image(alice, team=team), base)
    two = with_hash(make_image(bob, team=team), flip(base, [1, 9]))
    same = with_hash(make_image(alice, team=team), base)
    six = with_hash(make_image(alice, team=team), flip(base, [0, 5, 17, 33, 48, 60]))
    with_hash(make_image(alice, team=team), flip(base, list(range(0, 64, 5))))  # 13 bits: not similar
    with_hash(make_image(carol, team=other), base)  # identical, in another team
    with_hash(make_image(bob, team=None), base)  # identical, bob's personal image
    with_hash(make_image(alice, team=None), base)  # identical, alice's personal image
    make_image(alice, team=team)  # no hash yet

    near = similar_images(user=alice, image=image)

    assert [(s.image.id, s.distance) for s in near] == [(same.id, 0), (two.id, 2), (six.id, 6)]
    outsider = similar_images(user=carol, image=image)  # not a member: nothing, even if asked directly
    assert outsider == []


def test_a_personal_image_is_similar_only_to_its_owners_personal_images(alice, bob):
    team = make_team(alice, member=bob)
    base = random.Random(4).getrandbits(64)
    mine = with_hash(make_image(alice), base)
    also_mine = with_hash(make_image(alice), flip(base, [3]))
    with_hash(make_image(bob), base)  # bob's personal: never alice's to see
    with_hash(make_image(alice, team=team), base)  # the team's: another space

    assert [s.image.id for s in similar_images(user=alice, image=mine)] == [also_mine.id]
    assert similar_images(user=bob, image=mine) == []


def test_at_most_eight_nearest_in_two_queries(alice):
    team = make_team(alice)
    base = random.Random(5).getrandbits(64)
    image = with_hash(make_image(alice, team=team), base)
    for n in range(12):
        with_hash(make_image(alice, team=team), flip(base, list(range(n % 10))))

    memberships_of(alice)  # as the page has by then (its header)
    with CaptureQueriesContext(connection) as ctx:
        near = similar_images(user=alice, image=image)
        assert [s.distance for s in near] == [0, 0, 1, 1, 2, 3, 4, 5]  # of 0..9, 0, 1 bits
        assert all(s.image.generation.prompt for s in near)  # loaded with the second query
    assert len(ctx.captured_queries) == 2


def test_the_image_page_shows_its_similar_images_with_their_distance(client, alice, bob, make_user):
    """Pictures rendered by the sandbox with near-duplicates on, stored as the worker stores them."""
    carol = make_user("carol")
    team = make_team(alice, viewer=bob)
    first = store_picture(make_image(alice, team=team, prompt="fox"), sandbox_picture("a red fox in snow"))
    second = store_picture(make_image(alice, team=team), sandbox_picture("a red fox in snow", 2))
    alone = store_picture(make_image(alice, team=team), sandbox_picture("a lighthouse at dawn"))
    unhashed = make_image(alice, team=team)
    other = make_team(carol, name="Elsewhere")
    store_picture(make_image(carol, team=other), sandbox_picture("a red fox in snow"))

    url = reverse("image_detail", args=[first.code])
    logged_in(client, bob, team).get(url)  # the header's cached values are in place from here on
    html = client.get(url).content.decode()

    assert "Visually similar in this team" in html
    assert html.count('data-testid="similar-image"') == 1
    assert f'data-code="{second.code}"' in html
    d = distance(first.phash, second.phash)
    assert 0 < d <= SIMILAR_DISTANCE
    assert f"{d} bits apart" in html or f"{d} bit apart" in html
    # The strip costs two queries (candidates, then the nearest with their prompts), one when none is near.
    without = len(_queries(client, reverse("image_detail", args=[unhashed.code])))
    assert len(_queries(client, url)) == without + 2
    lonely = client.get(reverse("image_detail", args=[alone.code])).content.decode()
    assert 'data-testid="no-similar"' in lonely and len(_queries(client, lonely_url(alone))) == without + 1


def lonely_url(image: Image) -> str:
    return reverse("image_detail", args=[image.code])


def test_an_image_without_a_hash_has_no_strip_and_no_lookup(client, alice):
    image = make_image(alice)
    html = logged_in(client, alice).get(reverse("image_detail", args=[image.code])).content.decode()
    assert 'data-testid="similar"' not in html


def _queries(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        assert response.status_code == 200
    return [query["sql"] for query in ctx.captured_queries]


# --- Collapse near-duplicates ---------------------------------------------------------------------------


def test_collapse_keeps_one_tile_per_cluster_with_its_count_and_survives_filters_and_load_more(client, alice):
    team = make_team(alice)
    rng = random.Random(6)
    foxes, whales = rng.getrandbits(64), rng.getrandbits(64)
    with_hash(make_image(alice, team=team, prompt="fox 1", days_ago=0.5), foxes)
    fox = with_hash(make_image(alice, team=team, prompt="fox 2", days_ago=0.1), flip(foxes, [2, 40]))
    with_hash(make_image(alice, team=team, prompt="fox 3", days_ago=0.3), flip(foxes, [7]))
    whale = with_hash(make_image(alice, team=team, prompt="whale 1", days_ago=0.2), whales)
    with_hash(make_image(alice, team=team, prompt="whale 2", days_ago=0.4), flip(whales, [1, 2, 3]))
    alone = make_image(alice, team=team, prompt="pending", status="failed")  # no hash: its own tile
    logged_in(client, alice, team)
    url = reverse("team_library")

    every = client.get(url).content.decode()
    assert every.count('data-testid="tile"') == 6 and "similar</a>" not in every
    collapsed_sql = _queries(client, f"{url}?collapse=1")
    assert len(collapsed_sql) <= len(_queries(client, url)) + 1
    collapsed = client.get(f"{url}?collapse=1&q=")
    html = collapsed.content.decode()

    page = collapsed.context["page"]
    codes = [image.code for image in page.images]
    assert codes == [alone.code, fox.code, whale.code]  # newest first, each cluster at its newest
    assert html.count('data-testid="tile"') == 3
    assert "+2 similar" in html and "+1 similar" in html
    assert 'data-testid="collapse-off"' in html and "Only one page at a time is grouped" in html
    form = collapsed.context["form"]
    assert form["collapse"].value() is True  # the filter form keeps it when a search is sent

    filtered = client.get(f"{url}?collapse=1&q=fox").content.decode()
    assert filtered.count('data-testid="tile"') == 1 and "+2 similar" in filtered


def test_load_more_keeps_collapse(client, alice):
    team = make_team(alice)
    for n in range(PAGE_SIZE + 2):
        make_image(alice, team=team, prompt=f"image {n}")
    logged_in(client, alice, team)
    html = client.get(f"{reverse('team_library')}?collapse=1&model=flux-pro").content.decode()
    assert 'data-testid="load-more" href="?collapse=1&amp;model=flux-pro&amp;cursor=' in html


# --- Backfill ---------------------------------------------------------------------------------------------


def test_backfill_hashes_images_stored_before_from_their_thumbnails_and_is_resumable(alice):
    png = sandbox_picture("a red fox in snow")
    old = [store_picture(make_image(alice), png) for _ in range(3)]
    expected = old[0].phash
    Image.objects.filter(id__in=[image.id for image in old]).update(**band_fields(None))
    no_thumbnail = store_picture(make_image(alice), sandbox_picture("a lighthouse at dawn"))
    expected_original = no_thumbnail.phash
    Image.objects.filter(id=no_thumbnail.id).update(thumbnail="", **band_fields(None))
    lost = make_image(alice, with_files=True)
    default_storage.delete(lost.file.name)
    default_storage.delete(lost.thumbnail.name)
    make_image(alice, status="failed")  # never stored: nothing to hash

    out, err = io.StringIO(), io.StringIO()
    call_command("backfill_image_hashes", "--batch-size", "2", "--limit", "2", stdout=out, stderr=err)
    assert "Hashed 2 images" in out.getvalue()
    assert Image.objects.filter(phash__isnull=False).count() == 2  # stopped after two: the rest wait

    call_command("backfill_image_hashes", "--batch-size", "2", stdout=out, stderr=err)
    for image in old:
        image.refresh_from_db()
        assert distance(image.phash, expected) <= 2  # the stored WebP thumbnail reads as its picture
        assert image.phash_band0 == bands(image.phash)[0]
    no_thumbnail.refresh_from_db()
    assert distance(no_thumbnail.phash, expected_original) <= 2
    assert f"image {lost.id}: no readable file to hash" in err.getvalue()
    assert Image.objects.filter(status="stored", phash__isnull=True).count() == 1  # only the lost one

    again = io.StringIO()
    call_command("backfill_image_hashes", "--after-id", str(lost.id), stdout=again, stderr=io.StringIO())
    assert "Hashed 0 images" in again.getvalue()


def test_backfill_refuses_a_batch_size_below_one(alice):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("backfill_image_hashes", "--batch-size", "0", stdout=io.StringIO())
