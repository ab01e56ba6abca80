"""Share links: a public, read-only link to one image or one collection (issue 17, item 1).

The token is 256 random bits kept only as its SHA-256; a link lasts 1 to 90 days ("never" for team admins
and owners); pages count views, say noindex and are never cached; a revoked, expired or unknown link is the
same 404; originals come through the members' own path, for images the link covers only.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from library.models import Collection, CollectionItem, ShareLink
from library.services import share_link_create, share_link_revoke
from tests.library.factories import make_image, make_team, png_bytes

pytestmark = pytest.mark.django_db

SECRET_PROMPT = "a copper kettle on a windowsill at noon"


@pytest.fixture
def studio(make_user):
    people = {role: make_user(role) for role in ("owner", "admin", "member", "viewer", "stranger")}
    team = make_team(people["owner"], admin=people["admin"], member=people["member"], viewer=people["viewer"])
    image = make_image(people["member"], team=team, prompt=SECRET_PROMPT, with_files=True)
    return team, people, image


def page_url(token: str) -> str:
    return reverse("share_page", args=[token])


def original_url(token: str, image) -> str:
    return reverse("share_original", args=[token, image.code])


def assert_not_cached(response) -> None:
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_token_has_256_random_bits_and_only_its_digest_is_stored(studio):
    _team, people, image = studio
    made = [share_link_create(user=people["member"], image=image, expires_in_days=7) for _ in range(3)]
    for new in made:
        assert len(base64.urlsafe_b64decode(new.token + "=")) == 32  # 256 bits from secrets.token_urlsafe
        assert new.link.digest == hashlib.sha256(new.token.encode()).hexdigest()
    assert len({new.token for new in made}) == 3
    with connection.cursor() as cursor:  # no column of any row holds a raw token
        cursor.execute("SELECT * FROM library_sharelink")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert not any(new.token in stored for new in made)
    assert all(new.link.digest in stored for new in made)


def test_lifetime_is_1_to_90_days_and_never_is_for_admins_and_owners(studio):
    _team, people, image = studio
    member = people["member"]
    for days in (0, 91, -1):
        with pytest.raises(ValidationError):
            share_link_create(user=member, image=image, expires_in_days=days)
    for days in (1, 90):
        link = share_link_create(user=member, image=image, expires_in_days=days).link
        assert abs(link.expires_at - (timezone.now() + timedelta(days=days))) < timedelta(minutes=1)
    with pytest.raises(PermissionDenied):
        share_link_create(user=member, image=image, expires_in_days=None)
    for role in ("admin", "owner"):
        assert share_link_create(user=people[role], image=image, expires_in_days=None).link.expires_at is None
    for role in ("viewer", "stranger"):  # viewers may not share; outsiders not at all
        with pytest.raises(PermissionDenied):
            share_link_create(user=people[role], image=image, expires_in_days=7)
    # The form offers "Never" to admins only; a member who posts it anyway is told, and nothing is made.
    client = Client()
    client.force_login(member)
    response = client.post(reverse("image_share", args=[image.code]), {"expires": "never"}, follow=True)
    assert "No link was made" in response.content.decode()
    assert not ShareLink.objects.filter(expires_at__isnull=True, created_by=member).exists()


def test_personal_work_is_shared_by_its_author_only(studio, make_user):
    _team, people, _ = studio
    own = make_image(people["stranger"], with_files=True)
    assert share_link_create(user=people["stranger"], image=own, expires_in_days=1).link.team_id is None
    with pytest.raises(PermissionDenied):
        share_link_create(user=people["owner"], image=own, expires_in_days=1)


def test_a_member_makes_a_link_from_the_image_page_and_sees_it_once(studio, client):
    team, people, image = studio
    client.force_login(people["member"])
    detail = client.get(reverse("image_detail", args=[image.code])).content.decode()
    assert 'data-testid="share-form"' in detail and 'value="never"' not in detail
    response = client.post(reverse("image_share", args=[image.code]), {"expires": "30"})
    assert response.status_code == 201 and response["Cache-Control"] == "private, no-store"
    link = ShareLink.objects.get()
    shown = response.content.decode().split('data-testid="share-url"', 1)[0]
    url = shown.rsplit('value="', 1)[1].split('"')[0]
    token = url.rsplit("/s/", 1)[1].strip("/")
    assert ShareLink.digest_of(token) == link.digest and url.startswith("http://testserver/s/")
    assert (link.kind, link.image, link.team, link.show_prompt, link.show_parameters) == (
        "image",
        image,
        team,
        False,
        False,
    )
    again = client.get(reverse("image_detail", args=[image.code])).content.decode()
    assert token not in again and f'data-share="{link.code}"' in again  # listed, not re-shown
    client.force_login(people["viewer"])
    viewer_page = client.get(reverse("image_detail", args=[image.code])).content.decode()
    assert 'data-testid="share-refusal"' in viewer_page and 'data-testid="share-form"' not in viewer_page
    refused = client.post(reverse("image_share", args=[image.code]), {"expires": "7"})
    assert refused.status_code == 403 and "viewers cannot share" in refused.content.decode()


def test_each_page_view_counts_once_and_the_page_is_noindex_and_not_cached(studio):
    _team, people, image = studio
    new = share_link_create(user=people["member"], image=image, expires_in_days=7)
    visitor = Client()
    for _ in range(3):
        response = visitor.get(page_url(new.token))
        assert response.status_code == 200
        assert_not_cached(response)
        assert '<meta name="robots" content="noindex, nofollow">' in response.content.decode()
    original = visitor.get(original_url(new.token, image))  # files are not views
    assert original.status_code == 200 and b"".join(original.streaming_content) == png_bytes()
    assert_not_cached(original)
    new.link.refresh_from_db()
    assert new.link.view_count == 3


def test_the_prompt_and_parameters_show_only_when_chosen(studio):
    team, people, image = studio
    plain = share_link_create(user=people["member"], image=image, expires_in_days=7)
    page = Client().get(page_url(plain.token)).content.decode()
    assert SECRET_PROMPT not in page and "Seed" not in page and team.name not in page
    assert people["member"].username not in page.split("<main", 1)[1]
    told = share_link_create(
        user=people["member"], image=image, expires_in_days=7, show_prompt=True, show_parameters=True
    )
    page = Client().get(page_url(told.token)).content.decode()
    assert 'data-testid="shared-prompt"' in page and SECRET_PROMPT in page
    assert 'data-testid="shared-parameters"' in page and "<dt>Seed</dt><dd>42</dd>" in page


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown"])
def test_a_revoked_expired_or_unknown_link_is_the_same_404_never_cached(studio, state):
    _team, people, image = studio
    new = share_link_create(user=people["member"], image=image, expires_in_days=7)
    visitor = Client()
    assert visitor.get(page_url(new.token)).status_code == 200
    token = new.token
    if state == "revoked":
        share_link_revoke(user=people["member"], link=new.link)
    elif state == "expired":
        ShareLink.objects.filter(pk=new.link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        token = new.token[:-2] + ("AA" if not new.token.endswith("AA") else "BB")
    for url in (page_url(token), original_url(token, image)):
        response = visitor.get(url)
        assert response.status_code == 404, url
        assert_not_cached(response)
        html = response.content.decode()
        assert 'data-testid="error-404"' in html and '<header class="topbar">' in html
        assert '<meta name="robots" content="noindex, nofollow">' in html
    new.link.refresh_from_db()
    assert new.link.view_count == 1  # refused visits count nothing


def test_a_collection_link_shows_its_images_and_serves_only_their_originals(studio):
    team, people, image = studio
    member = people["member"]
    second = make_image(member, team=team, prompt="second", with_files=True)
    outside = make_image(member, team=team, prompt="not on the board", with_files=True)
    board = Collection.objects.create(name="Client picks", team=team, created_by=member)
    for item in (image, second):
        CollectionItem.objects.create(collection=board, image=item)
    new = share_link_create(user=member, collection=board, expires_in_days=7)
    visitor = Client()
    page = visitor.get(page_url(new.token)).content.decode()
    assert page.count('data-testid="shared-tile"') == 2 and "Client picks" in page
    assert reverse("share_original", args=[new.token, outside.code]) not in page
    for covered in (image, second):
        response = visitor.get(original_url(new.token, covered))
        assert response.status_code == 200 and b"".join(response.streaming_content) == png_bytes()
    refused = visitor.get(original_url(new.token, outside))
    assert refused.status_code == 404 and 'data-testid="error-404"' in refused.content.decode()
    assert_not_cached(refused)
    # An image link covers its image only.
    single = share_link_create(user=member, image=image, expires_in_days=7)
    assert visitor.get(original_url(single.token, second)).status_code == 404


def test_admins_see_and_revoke_every_team_link_members_only_their_own(studio):
    team, people, image = studio
    mine = share_link_create(user=people["member"], image=image, expires_in_days=7)
    theirs = share_link_create(user=people["admin"], image=image, expires_in_days=None)
    listing = reverse("team_shares", args=[team.code])
    member, admin = Client(), Client()
    member.force_login(people["member"])
    admin.force_login(people["admin"])
    assert member.get(listing).status_code == 403
    page = admin.get(listing).content.decode()
    assert f'data-share="{mine.link.code}"' in page and f'data-share="{theirs.link.code}"' in page
    assert "never" in page and people["member"].username in page
    # A member revokes their own link, not someone else's; the image page lists only their own.
    detail = member.get(reverse("image_detail", args=[image.code])).content.decode()
    assert f'data-share="{mine.link.code}"' in detail and f'data-share="{theirs.link.code}"' not in detail
    assert member.post(reverse("share_revoke", args=[theirs.link.code])).status_code == 403
    assert member.post(reverse("share_revoke", args=[mine.link.code])).status_code == 302
    # The admin revokes anyone's from the team's page, and the list says so.
    response = admin.post(reverse("share_revoke", args=[theirs.link.code]), {"next": listing})
    assert response.status_code == 302 and response["Location"] == listing
    page = admin.get(listing).content.decode()
    assert page.count(">revoked<") == 2
    for new in (mine, theirs):
        assert Client().get(page_url(new.token)).status_code == 404


ODD_PATHS = (
    "/s/" + "A" * 5000 + "/",
    "/s/%E2%80%AE%F0%9F%92%A5/",
    "/s/..%5C..%5Cetc/",
    "/s/{token}/i/not-a-code/original",
    "/s/{token}/i/00000000-0000-0000-0000-000000000000/original",
    "/s/{token}/i/" + "9" * 300 + "/original",
)


def test_odd_addresses_under_s_are_the_share_404(studio):
    _team, people, image = studio
    new = share_link_create(user=people["member"], image=image, expires_in_days=7)
    for path in ODD_PATHS:
        response = Client().get(path.format(token=new.token))
        assert response.status_code == 404 and 'data-testid="error-404"' in response.content.decode(), path
        assert_not_cached(response)


def test_a_share_page_costs_a_fixed_number_of_queries(studio, django_assert_max_num_queries):
    team, people, image = studio
    board = Collection.objects.create(name="Many", team=team, created_by=people["member"])
    for index in range(6):
        item = make_image(people["member"], team=team, prompt=f"image {index}", with_files=True)
        CollectionItem.objects.create(collection=board, image=item)
    visitor = Client()
    for new in (
        share_link_create(user=people["member"], image=image, expires_in_days=7),
        share_link_create(user=people["member"], collection=board, expires_in_days=7),
    ):
        with django_assert_max_num_queries(3):  # the link (with its target), the view count, the images
            assert visitor.get(page_url(new.token)).status_code == 200
