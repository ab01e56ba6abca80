"""Every URL of the app, against every kind of visitor: the exact answer, and nothing of a team leaks.

The URL list comes from the resolver, so a new view fails this test until its expected answers are added
to ``EXPECTED`` below.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from api.models import ApiToken
from api.services import token_create, token_revoke
from credits.services import budget_set, ledger_charge_images, ledger_top_up
from generations.models import Comparison, Generation, Image
from generations.thumbnails import thumbnail_url, url_window
from library.models import Collection, CollectionItem, ShareLink
from library.services import share_link_create, share_link_revoke
from pixelgallery.middleware import PROBES
from teams.active import SESSION_KEY
from teams.models import Invitation, Membership, Team
from tests.conftest import PASSWORD
from tests.library.factories import png_bytes
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

PERSONAS = ("anonymous", "other", "outsider", "viewer", "member", "admin", "owner")
OUTSIDERS = ("anonymous", "other", "outsider")
SECRET_PROMPT = "zanzibar lighthouse under violet fog"
SECRET_SLUG = "zanzibar-lighthouse-under-violet-fog"
TEAM_NAME = "Quokka Atelier"
LOGIN = "login"  # a redirect to the login page
ADMIN_LOGIN = "admin-login"  # a redirect to the admin's login page (staff only)


@dataclass
class World:
    team: Team
    generation: Generation
    image: Image
    collection: Collection
    invitation: Invitation
    users: dict[str, object] = field(default_factory=dict)
    second_image: Image | None = None  # the generation's second output (compare takes two images)
    api_token: ApiToken | None = None  # the owner's API token (its revoke URL)
    webhook: WebhookEndpoint | None = None  # the team's webhook endpoint
    webhook_delivery: WebhookDelivery | None = None  # a delivery to it (its re-send URL)
    comparison: Comparison | None = None  # the team's comparison the generation is a column of
    share_link: ShareLink | None = None  # the owner's share link of the image (its revoke URL)
    share_tokens: dict[str, str] = field(default_factory=dict)  # "valid", "expired", "revoked" links' tokens


SHARES = ("valid", "expired", "revoked")


@pytest.fixture
def world(django_user_model) -> World:
    def user(name: str):
        return django_user_model.objects.create_user(name, f"{name}@example.com", PASSWORD)

    users = {persona: user(persona) for persona in PERSONAS if persona != "anonymous"}
    team = Team.objects.create(name=TEAM_NAME, created_by=users["owner"])
    for role in ("viewer", "member", "admin", "owner"):
        Membership.objects.create(team=team, user=users[role], role=role)
    elsewhere = Team.objects.create(name="Elsewhere", created_by=users["outsider"])
    Membership.objects.create(team=elsewhere, user=users["outsider"], role="owner")

    comparison = Comparison.objects.create(user=users["owner"], team=team, prompt=SECRET_PROMPT)
    generation = Generation.objects.create(
        user=users["owner"],
        team=team,
        prompt=SECRET_PROMPT,
        model="flux-pro",
        status="done",
        seed=7,
        comparison=comparison,
    )
    image = Image.objects.create(
        generation=generation,
        user=users["owner"],
        team=team,
        index=0,
        provider_url="http://127.0.0.1:9/a.png",
        status="stored",
        width=32,
        height=24,
        content_type="image/png",
    )
    image.file.name = default_storage.save("originals/secret.png", ContentFile(png_bytes()))
    image.thumbnail.name = default_storage.save("thumbnails/secret.webp", ContentFile(b"RIFF-secret-thumb"))
    image.save()
    second_image = Image.objects.create(
        generation=generation,
        user=users["owner"],
        team=team,
        index=1,
        provider_url="http://127.0.0.1:9/b.png",
        status="stored",
        width=32,
        height=24,
        content_type="image/png",
    )
    collection = Collection.objects.create(
        name="Secret board", team=team, created_by=users["owner"], cover=image
    )
    CollectionItem.objects.create(collection=collection, image=image)
    # Credits: the secret prompt is charged (top prompts) and the team has a budget and a top-up.
    ledger_charge_images(generation=generation, images=[image], credits=1)
    budget_set(actor=users["owner"], team=team, monthly_credits=50)
    ledger_top_up(actor=users["owner"], team=team, credits=100, note="plan")
    invitation = Invitation.objects.create(
        team=team,
        invitee="newcomer",
        role="member",
        invited_by=users["owner"],
        expires_at=generation.created_at.replace(year=generation.created_at.year + 1),
    )
    api_token = token_create(user=users["owner"], name="Matrix", scopes=["read"], team=team).token
    webhook = WebhookEndpoint.objects.create(
        team=team, url="https://hooks.example.com/in", event_types=["generation.completed"], secret="whsec_AA"
    )
    webhook_delivery = WebhookDelivery.objects.create(
        endpoint=webhook,
        message_id="msg_matrix",
        event_type="generation.completed",
        payload=json.dumps({"data": {"prompt": SECRET_PROMPT}}),
        status="succeeded",
        window_started_at=timezone.now(),
    )
    world = World(team, generation, image, collection, invitation, users, second_image, api_token)
    world.webhook, world.webhook_delivery = webhook, webhook_delivery
    world.comparison = comparison
    # Share links of the image (prompt and parameters hidden, as by default): one valid for a week, one that
    # has expired, one revoked.
    links = {kind: share_link_create(user=users["owner"], image=image, expires_in_days=7) for kind in SHARES}
    ShareLink.objects.filter(pk=links["expired"].link.pk).update(expires_at=timezone.now())
    share_link_revoke(user=users["owner"], link=links["revoked"].link)
    world.share_link = links["valid"].link
    world.share_tokens = {kind: new.token for kind, new in links.items()}
    return world


def client_for(world: World, persona: str) -> Client:
    client = Client()
    if persona != "anonymous":
        client.force_login(world.users[persona])
        session = client.session
        if persona == "outsider":
            session[SESSION_KEY] = str(Team.objects.get(name="Elsewhere").code)
        elif persona not in OUTSIDERS:
            session[SESSION_KEY] = str(world.team.code)
        session.save()
    return client


@dataclass(frozen=True)
class Case:
    method: str
    expected: dict[str, int | str]
    kwargs: str = ""  # which object fills the URL: generation, image, collection, team, token, reset
    data: tuple[tuple[str, str], ...] = ()


def answers(**by_persona: int | str) -> dict[str, int | str]:
    assert set(by_persona) == set(PERSONAS), sorted(set(PERSONAS) ^ set(by_persona))
    return by_persona


def everyone(status: int) -> dict[str, int | str]:
    return dict.fromkeys(PERSONAS, status)


def logged_in(status: int) -> dict[str, int | str]:
    return {**everyone(status), "anonymous": LOGIN}


def team_only(status: int, **overrides: int | str) -> dict[str, int | str]:
    return {
        "anonymous": LOGIN,
        "other": 404,
        "outsider": 404,
        **dict.fromkeys(PERSONAS[3:], status),
        **overrides,
    }


EXPECTED: dict[str, Case] = {
    "favicon": Case("GET", everyone(301)),  # to the static icon, for anyone
    # Accounts (django.contrib.auth)
    "login": Case("GET", everyone(200)),
    "logout": Case("POST", everyone(302)),
    "password_change": Case("GET", logged_in(200)),
    "password_change_done": Case("GET", logged_in(200)),
    "password_reset": Case("GET", everyone(200)),
    "password_reset_done": Case("GET", everyone(200)),
    "password_reset_confirm": Case("GET", everyone(200), kwargs="reset"),
    "password_reset_complete": Case("GET", everyone(200)),
    # Generating
    "gallery": Case("GET", logged_in(200)),
    "generate": Case(
        "POST",
        {**logged_in(302), "viewer": 200},  # a viewer may not generate in the team: the form says so
        data=(("prompt", "a test"), ("model", "flux-pro"), ("aspect_ratio", "1:1"), ("num_outputs", "1")),
    ),
    "generation_detail": Case("GET", team_only(200), kwargs="generation"),
    "generation_status": Case("GET", team_only(200), kwargs="generation"),
    "comparison_detail": Case("GET", team_only(200), kwargs="comparison"),  # the team's to share
    "image_original": Case("GET", team_only(200), kwargs="image"),
    "image_thumbnail": Case("GET", team_only(200), kwargs="image"),
    # A signed thumbnail URL is the authorisation itself (a bearer capability that a page which showed the
    # image handed out): anyone holding it gets that one thumbnail until it expires; a forged, tampered or
    # expired one fails for everyone (test_signed_thumbnail_refused_for_everyone_when_forged_or_expired).
    "signed_thumbnail": Case("GET", everyone(200), kwargs="signed"),
    "operations": Case("GET", {**everyone(ADMIN_LOGIN)}),
    "operations_resume": Case("POST", {**everyone(ADMIN_LOGIN)}),
    "operations_allow_host": Case("POST", {**everyone(ADMIN_LOGIN)}, data=(("host", "localhost"),)),
    "operations_catalogue_refresh": Case("POST", {**everyone(ADMIN_LOGIN)}),
    # PixelDojo's job webhook: only at its secret address (none is set here, so no address answers)
    "pixeldojo_job_hook": Case("POST", everyone(404), kwargs="hook"),
    # Library
    "my_images": Case("GET", logged_in(200)),
    "team_library": Case("GET", {**logged_in(200), "other": 302}),  # no team picked: back to My images
    "library_bulk": Case("POST", logged_in(200), data=(("action", "zip"), ("images", "{image}"))),
    "library_compare": Case("GET", team_only(200), data=(("images", "{image},{second_image}"),)),
    "image_detail": Case("GET", team_only(200), kwargs="image"),
    "image_favourite": Case("POST", team_only(302), kwargs="image", data=(("favourite", "1"),)),
    "image_tags": Case("POST", team_only(302, viewer=403), kwargs="image", data=(("tags", "x"),)),
    "image_collect": Case(
        "POST", team_only(302, viewer=403), kwargs="image", data=(("collection", "{collection}"),)
    ),
    "image_delete": Case("POST", team_only(302, viewer=403, member=403), kwargs="image"),
    "collections": Case("POST", {**logged_in(302), "viewer": 403}, data=(("name", "Board"),)),
    "collection_detail": Case("GET", team_only(200), kwargs="collection"),
    "collection_edit": Case(
        "POST", team_only(302, viewer=403), kwargs="collection", data=(("operation", "rename"), ("name", "B"))
    ),
    # Share links: members make them (the new link's page: 201); a link is revoked by its creator (here the
    # owner) or the team's admins; the team's list is for admins and owners. A valid link opens for anyone,
    # logged in or not (only the image: no prompt, team or board name); expired and revoked ones are 404
    # for everyone (SHARE_VARIANTS).
    "image_share": Case("POST", team_only(201, viewer=403), kwargs="image", data=(("expires", "7"),)),
    "collection_share": Case(
        "POST", team_only(201, viewer=403), kwargs="collection", data=(("expires", "7"),)
    ),
    "share_revoke": Case("POST", team_only(403, admin=302, owner=302), kwargs="share_link"),
    "team_shares": Case("GET", team_only(403, admin=200, owner=200), kwargs="team"),
    "share_page": Case("GET", everyone(200), kwargs="share:valid"),
    "share_original": Case("GET", everyone(200), kwargs="share_image:valid"),
    # Teams
    "teams:list": Case("GET", logged_in(200)),
    "teams:switch": Case("POST", logged_in(302), data=(("team", "{team}"),)),
    "teams:join": Case("POST", logged_in(409), kwargs="token"),  # only "newcomer" may accept
    "teams:decline": Case("POST", logged_in(409), kwargs="token"),  # only "newcomer" may decline
    "teams:detail": Case("GET", team_only(200), kwargs="team"),
    "teams:rename": Case("POST", team_only(403, owner=302), kwargs="team", data=(("name", "Renamed"),)),
    "teams:invite": Case(
        "POST",
        team_only(403, admin=302, owner=302),
        kwargs="team",
        data=(("invitee", "someone@example.com"), ("role", "viewer")),
    ),
    "teams:revoke": Case(
        "POST", team_only(403, admin=302, owner=302), kwargs="team", data=(("invitation", "{token}"),)
    ),
    "teams:member_role": Case(
        "POST",
        team_only(403, admin=302, owner=302),
        kwargs="team",
        data=(("member", "viewer"), ("role", "member")),
    ),
    "teams:member_remove": Case(
        "POST", team_only(403, admin=302, owner=302), kwargs="team", data=(("member", "viewer"),)
    ),
    "teams:leave": Case("POST", team_only(302, owner=409), kwargs="team"),  # the only owner: told why
    "teams:transfer": Case("POST", team_only(403, owner=302), kwargs="team", data=(("member", "admin"),)),
    "teams:delete": Case("GET", team_only(403, owner=200), kwargs="team"),  # the confirmation page
    # Credits: your own page for everyone; the active team's dashboard for its admins and owners ("other"
    # has no team picked: back to /credits/; "outsider" sees their own team's, never this one's).
    "credits:mine": Case("GET", logged_in(200)),
    "credits:team": Case("GET", team_only(403, other=302, outsider=200, admin=200, owner=200)),
    "credits:team_budget": Case(
        "POST",
        team_only(403, other=302, outsider=302, admin=302, owner=302),
        data=(("scope", "team"), ("monthly_credits", "100")),
    ),
    "credits:team_top_up": Case(
        "POST",
        team_only(403, other=302, outsider=302, admin=302, owner=302),
        data=(("credits", "10"), ("note", "plan")),
    ),
    "credits:team_export": Case("GET", team_only(403, other=302, outsider=200, admin=200, owner=200)),
    # API tokens: each user's own page; a token is revoked by its owner only (404 for anyone else).
    "tokens:list": Case("GET", logged_in(200)),
    "tokens:revoke": Case("POST", {**logged_in(404), "owner": 302}, kwargs="api_token"),
    # Webhooks: the team's admins and owners only (members and viewers are told why; others get 404).
    "webhooks:list": Case("GET", team_only(403, admin=200, owner=200), kwargs="team"),
    "webhooks:detail": Case("GET", team_only(403, admin=200, owner=200), kwargs="webhook"),
    "webhooks:delete": Case("POST", team_only(403, admin=302, owner=302), kwargs="webhook"),
    "webhooks:enable": Case("POST", team_only(403, admin=302, owner=302), kwargs="webhook"),
    "webhooks:resend": Case("POST", team_only(403, admin=302, owner=302), kwargs="webhook_delivery"),
}


# The same URLs again with other objects: "<URL name> [<what differs>]".
SHARE_VARIANTS: dict[str, Case] = {
    f"{name} [{kind} link]": Case("GET", everyone(404), kwargs=f"{kwargs}:{kind}")
    for name, kwargs in (("share_page", "share"), ("share_original", "share_image"))
    for kind in ("expired", "revoked")
}


def app_url_names() -> list[str]:
    """Every named URL of the project except Django's admin (which is staff-only and tested by Django)."""

    def walk(patterns, namespace: str = ""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from walk(pattern.url_patterns, inner)
            elif isinstance(pattern, URLPattern):
                assert pattern.name, f"unnamed URL pattern {pattern.pattern}"
                yield f"{namespace}{pattern.name}"

    return sorted(set(walk(get_resolver().url_patterns)))


def test_every_url_has_expected_answers():
    assert sorted([*EXPECTED, *API_EXPECTED]) == app_url_names()


# The probes answer in middleware, before the URL resolver (so they are not in EXPECTED): the same for
# every persona, a session being no key. /metrics is refused to all without its token (issue 11, finding 9).
PROBE_PATHS = {"/healthz": 200, "/metrics": 401}  # /readyz: also the broker's health, tested in tests/project


def test_every_probe_path_is_walked():
    assert set(PROBES) == {*PROBE_PATHS, "/readyz"}


@pytest.mark.parametrize("persona", PERSONAS)
def test_probes_answer_every_persona_alike(world, persona, settings):
    settings.METRICS_TOKEN = "matrix-metrics-token"
    client = client_for(world, persona)
    for path, status in PROBE_PATHS.items():
        response = client.get(path)
        assert response.status_code == status, (path, persona)
        assert b"pixelgallery_" not in response.content and SECRET_PROMPT.encode() not in response.content
    scraped = client.get("/metrics", HTTP_AUTHORIZATION="Bearer matrix-metrics-token")
    assert scraped.status_code == 200 and b"pixelgallery_http_requests" in scraped.content


@pytest.mark.parametrize("persona", PERSONAS)
def test_without_a_token_metrics_are_refused_to_every_persona(world, persona, settings):
    settings.METRICS_TOKEN = ""
    assert settings.DEBUG is False
    client = client_for(world, persona)
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer "}):
        response = client.get("/metrics", **headers)
        assert response.status_code == 403 and b"pixelgallery_" not in response.content, persona


def url_for(world: World, name: str, case: Case) -> str:
    objects = {
        "generation": {"code": world.generation.code},
        "image": {"code": world.image.code},
        "collection": {"code": world.collection.code},
        "comparison": {"code": world.comparison.code},
        "team": {"code": world.team.code},
        "token": {"token": world.invitation.token},
        "reset": {"uidb64": "MQ", "token": "set-password"},
        "hook": {"secret": "a-guess"},
        "api_token": {"token_id": world.api_token.id},
        "webhook": {"code": world.team.code, "endpoint": world.webhook.code},
        "share_link": {"code": world.share_link.code},
        "webhook_delivery": {
            "code": world.team.code,
            "endpoint": world.webhook.code,
            "delivery": world.webhook_delivery.code,
        },
        "": {},
    }
    if case.kwargs == "signed":
        return thumbnail_url(world.image.thumbnail.name)
    if ":" in case.kwargs:  # "share:<kind>" (a share page) or "share_image:<kind>" (an original through it)
        objects, kind = case.kwargs.split(":")
        token = world.share_tokens[kind]
        image = {"image": world.image.code} if objects == "share_image" else {}
        return reverse(name.split(" [")[0], kwargs={"token": token, **image})
    return reverse(name, kwargs=objects[case.kwargs])


def fill(world: World, value: str) -> str:
    return value.format(
        image=world.image.code,
        second_image=world.second_image.code,
        collection=world.collection.code,
        team=world.team.code,
        token=world.invitation.token,
    )


def body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted([*EXPECTED, *SHARE_VARIANTS]))
def test_answer_and_no_leak(world, name, persona):
    case = EXPECTED.get(name) or SHARE_VARIANTS[name]
    client = client_for(world, persona)
    url = url_for(world, name, case)
    data = {key: fill(world, value) for key, value in case.data}
    response = client.get(url, data) if case.method == "GET" else client.post(url, data)

    expected = case.expected[persona]
    if expected == LOGIN:
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), response
    elif expected == ADMIN_LOGIN:
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), response
    else:
        assert response.status_code == expected, (name, persona, response.status_code)
    if expected in (403, 404):  # the site's page, with the refusal's reason: never Django's bare one
        page = body(response).decode()
        assert '<header class="topbar">' in page, (name, persona)
        assert f'data-testid="error-{expected}"' in page, (name, persona)
        if expected == 403:
            reason = page.split('data-testid="error-reason">', 1)[1].split("</p>", 1)[0]
            assert reason.strip() and "does not have permission" not in reason, (name, persona, reason)

    if name.startswith(("share_page", "share_original")):  # valid or not: from no cache, for no index
        assert response["Cache-Control"] == "private, no-store", (name, persona)
        assert response["X-Robots-Tag"] == "noindex, nofollow", (name, persona)

    if persona in OUTSIDERS:
        content = body(response)
        secrets = (SECRET_PROMPT, SECRET_SLUG, TEAM_NAME, "Secret board", "RIFF-secret-thumb")
        for secret in secrets[:-1] if name == "signed_thumbnail" else secrets:  # its thumbnail, by design
            assert secret.encode() not in content, f"{name} leaks {secret!r} to {persona}"
        if name == "library_bulk" and persona != "anonymous":
            assert zipfile.ZipFile(io.BytesIO(content)).namelist() == []
    assert Image.objects.filter(id=world.image.id).exists() or (
        name == "image_delete" and persona in ("admin", "owner")
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_signed_thumbnail_refused_for_everyone_when_forged_or_expired(world, persona):
    client = client_for(world, persona)
    key = world.image.thumbnail.name
    start, expiry = url_window()
    forged = {
        "tampered": reverse("signed_thumbnail", kwargs={"signature": "A" * 43, "expiry": expiry, "key": key}),
        "expired": thumbnail_url(key, now=start - 2 * 86_400),  # it expired at this window's start
        "another key": thumbnail_url("thumbnails/other.webp").replace("thumbnails/other.webp", key),
    }
    for kind, url in forged.items():
        response = client.get(url)
        assert response.status_code == 403, (kind, persona)
        page = body(response).decode()
        assert '<header class="topbar">' in page and 'data-testid="error-403"' in page, (kind, persona)
        assert "RIFF-secret-thumb" not in page


@pytest.mark.parametrize("persona", PERSONAS)
def test_switching_to_a_team_works_only_for_its_members(world, persona):
    client = client_for(world, persona)
    client.post(reverse("teams:switch"), {"team": str(world.team.code)})
    expected = str(world.team.code) if persona not in OUTSIDERS else None
    assert client.session.get(SESSION_KEY) == expected or (
        persona == "outsider" and client.session.get(SESSION_KEY)
    )


def test_team_counts_and_prompts_never_reach_other_libraries(world):
    for persona in ("other", "outsider"):
        client = client_for(world, persona)
        for url in (
            reverse("my_images"),
            reverse("team_library"),
            reverse("gallery"),
            reverse("collections"),
        ):
            content = client.get(url, follow=True).content
            assert SECRET_PROMPT.encode() not in content and b"Secret board" not in content


def forged_cursor(position: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


# The outside probe's out-of-range input (issue 11, finding 2): a page or a reason, never a 5xx, for anyone.
ODD_QUERIES = {
    "my_images": ({"date_to": "9999-12-31"}, {"cursor": forged_cursor([0, "0001-01-01T00:00:00+14:00", 1])}),
    "team_library": (
        {"date_from": "0001-01-01", "date_to": "9999-12-31"},
        {"cursor": forged_cursor([0, "9999-12-31T23:59:59-14:00", 1])},
    ),
    "credits:team_export": ({"from": "2026-01-01", "to": "9999-12-31"}, {"from": "0001-01-01", "to": "x"}),
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_odd_dates_and_cursors_give_each_persona_its_usual_answer(world, persona):
    client = client_for(world, persona)
    for name, queries in ODD_QUERIES.items():
        usual = client.get(reverse(name)).status_code
        for query in queries:
            response = client.get(reverse(name), query)
            assert response.status_code < 500, (name, query, persona)
            assert response.status_code in (usual, 400), (name, query, persona, usual)  # 400: a bad date


EVIL_NEXTS = ("https://evil.example/", "//evil.example/", "javascript:alert(1)", "/\\evil.example/")


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_next_sends_anyone_off_site(world, persona):
    """Every view that reads ``next`` (favourite, bulk, board edit, team switch, log in and out) stays on this
    site, whoever asks, with ``next`` in the form or in the query string."""
    client = client_for(world, persona)
    posts = [
        (reverse("image_favourite", args=[world.image.code]), {"favourite": "1"}),
        (reverse("library_bulk"), {"action": "zip", "images": [str(world.image.code)]}),
        (reverse("library_bulk"), {"action": "delete", "images": []}),  # nothing to delete: back to next
        (reverse("library_bulk"), {"images": [str(world.image.code)]}),  # no action: refused, back to next
        (reverse("collection_edit", args=[world.collection.code]), {"operation": "none"}),  # refused
        (reverse("teams:switch"), {"team": str(world.team.code)}),
        (reverse("login"), {"username": persona, "password": PASSWORD}),
        (reverse("logout"), {}),  # last: it logs the persona out
    ]
    for url, data in posts:
        for evil in EVIL_NEXTS:
            for where in ("form", "query"):
                if where == "form":
                    response = client.post(url, {**data, "next": evil})
                else:
                    response = client.post(f"{url}?{urlencode({'next': evil})}", data)
                assert response.status_code < 500, (url, evil, where)
                location = response.headers.get("Location", "")
                parts = urlsplit(location)
                off_site = parts.scheme or parts.netloc or location.startswith(("//", "/\\"))
                assert not off_site, (url, evil, where, location)  # a path of this site, or no redirect


def test_a_batch_with_the_teams_image_never_lands_on_a_personal_board(world):
    """All or nothing: a member's personal board refuses [the team's image, their own image] as a whole."""
    member = world.users["member"]
    own = Generation.objects.create(user=member, prompt="my own harbour", model="flux-pro", status="done")
    own_image = Image.objects.create(
        generation=own, user=member, index=0, provider_url="http://127.0.0.1:9/b.png", status="stored"
    )
    board = Collection.objects.create(name="Mine", created_by=member)
    client = client_for(world, "member")
    client.post(
        reverse("library_bulk"),
        {
            "action": "collect",
            "collection": str(board.code),
            "images": [str(world.image.code), str(own_image.code)],
        },
    )
    assert not CollectionItem.objects.filter(collection=board).exists()


# --- The JSON API (/api/v1/): the same seven people, each with an API token instead of a session ------------
# Each persona's token acts where its session would: "other" in their personal space, "outsider" in their
# own team, the team's members in the team; all scopes. Beyond them: a revoked and an expired token of the
# owner, an owner's token lacking the operation's scope, a token of a member since removed from the team,
# and the owner's browser session without a token (cookies never authenticate the API).
API_EXTRA = ("revoked", "expired", "wrong_scope", "removed", "session")
API_PERSONAS = PERSONAS + API_EXTRA


@dataclass(frozen=True)
class ApiCase:
    method: str
    expected: dict[str, int]
    scope: str = "read"
    kwargs: tuple[str, ...] = ()  # which objects fill the URL, in order: generation, image, collection
    body: dict | None = None


def api_answers(everyone_status: int, **overrides: int) -> dict[str, int]:
    """Token personas' answers: ``everyone_status`` unless overridden; the extra personas are always refused
    (no token, revoked, expired: 401; the scope missing, no longer a member: 403)."""
    refused = {
        "anonymous": 401,
        "revoked": 401,
        "expired": 401,
        "session": 401,
        "wrong_scope": 403,
        "removed": 403,
    }
    return {**dict.fromkeys(PERSONAS, everyone_status), **refused, **overrides}


def api_team_only(status: int, **overrides: int) -> dict[str, int]:
    return api_answers(status, other=404, outsider=404, **overrides)


def no_auth(status: int) -> dict[str, int]:
    return dict.fromkeys(API_PERSONAS, status)


SUBMISSION = {"prompt": "a test", "model": "flux-pro", "aspect_ratio": "1:1", "num_outputs": 1}
COMPARISON = {"prompt": "a test", "models": ["flux-pro", "flux-1.1-pro"], "aspect_ratio": "1:1"}

API_EXPECTED: dict[str, ApiCase] = {
    "api:openapi-json": ApiCase("GET", no_auth(200)),  # the document and its docs are public
    "api:openapi-view": ApiCase("GET", no_auth(200)),
    "api:api-root": ApiCase("GET", no_auth(404)),
    "api:generation_create": ApiCase("POST", api_answers(202, viewer=403), scope="generate", body=SUBMISSION),
    "api:generation_get": ApiCase("GET", api_team_only(200), kwargs=("generation",)),
    "api:comparison_create": ApiCase("POST", api_answers(202, viewer=403), scope="generate", body=COMPARISON),
    "api:comparison_get": ApiCase("GET", api_team_only(200), kwargs=("comparison",)),
    "api:image_list": ApiCase("GET", api_answers(200)),
    "api:image_get": ApiCase("GET", api_team_only(200), kwargs=("image",)),
    "api:image_original": ApiCase("GET", api_team_only(200), kwargs=("image",)),
    "api:favourite_add": ApiCase("PUT", api_team_only(200), scope="curate", kwargs=("image",)),
    "api:favourite_remove": ApiCase("DELETE", api_team_only(200), scope="curate", kwargs=("image",)),
    "api:tags_add": ApiCase(
        "POST", api_team_only(200, viewer=403), scope="curate", kwargs=("image",), body={"tags": ["x"]}
    ),
    "api:tag_remove": ApiCase(
        "DELETE", api_team_only(200, viewer=403), scope="curate", kwargs=("image", "tag")
    ),
    "api:collection_list": ApiCase("GET", api_answers(200)),
    "api:collection_image_add": ApiCase(
        "PUT", api_team_only(200, viewer=403), scope="curate", kwargs=("collection", "image")
    ),
    "api:collection_image_remove": ApiCase(
        "DELETE", api_team_only(200, viewer=403), scope="curate", kwargs=("collection", "image")
    ),
    # Credits: your own with a personal token; the team's for its admins and owners ("outsider": their own
    # team's, never this one's).
    "api:credits_get": ApiCase("GET", api_answers(403, other=200, outsider=200, admin=200, owner=200)),
    "api:ledger_list": ApiCase("GET", api_answers(403, other=200, outsider=200, admin=200, owner=200)),
}


def api_token_for(world: World, persona: str, case: ApiCase) -> str | None:
    """The persona's token for this case (``None``: no token at all)."""
    if persona in ("anonymous", "session"):
        return None
    all_scopes = ["generate", "read", "curate"]
    owner, team = world.users["owner"], world.team
    if persona == "other":
        return token_create(user=world.users["other"], name="t", scopes=all_scopes).secret
    if persona == "outsider":
        elsewhere = Team.objects.get(name="Elsewhere")
        return token_create(user=world.users["outsider"], name="t", scopes=all_scopes, team=elsewhere).secret
    if persona in ("revoked", "expired"):
        made = token_create(user=owner, name="t", scopes=all_scopes, team=team)
        if persona == "revoked":
            token_revoke(user=owner, token=made.token)
        else:
            ApiToken.objects.filter(pk=made.token.pk).update(expires_at=timezone.now())
        return made.secret
    if persona == "wrong_scope":
        scopes = [scope for scope in all_scopes if scope != case.scope]
        return token_create(user=owner, name="t", scopes=scopes, team=team).secret
    if persona == "removed":
        member = world.users["member"]
        secret = token_create(user=member, name="t", scopes=all_scopes, team=team).secret
        Membership.objects.filter(team=team, user=member).delete()
        return secret
    return token_create(user=world.users[persona], name="t", scopes=all_scopes, team=team).secret


def api_url_for(world: World, name: str, case: ApiCase) -> str:
    values = {
        "comparison": world.comparison.code,
        "generation": world.generation.code,
        "image": world.image.code,
        "collection": world.collection.code,
        "tag": "x",
    }
    keys = {"comparison": "code", "generation": "code", "image": "image", "collection": "code", "tag": "tag"}
    kwargs = {}
    for kind in case.kwargs:
        key = "code" if kind == "image" and "collection" not in case.kwargs else keys[kind]
        kwargs[key] = values[kind]
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize("persona", API_PERSONAS)
@pytest.mark.parametrize("name", sorted(API_EXPECTED))
def test_api_answer_and_no_leak(world, name, persona):
    case = API_EXPECTED[name]
    secret = api_token_for(world, persona, case)
    client = Client(headers={"Authorization": f"Bearer {secret}"} if secret else {})
    if persona == "session":
        client.force_login(world.users["owner"])
        session = client.session
        session[SESSION_KEY] = str(world.team.code)
        session.save()
    url = api_url_for(world, name, case)
    kwargs = {"data": json.dumps(case.body), "content_type": "application/json"} if case.body else {}
    response = getattr(client, case.method.lower())(url, **kwargs)

    expected = case.expected[persona]
    if name == "api:api-root" and response.status_code == 302:  # Ninja's root sends people to its docs
        expected = 302
    assert response.status_code == expected, (name, persona, response.status_code, body(response)[:300])
    if expected >= 400 and name.startswith("api:") and name not in ("api:api-root",):
        error = json.loads(body(response))["error"]
        assert error["code"] and error["message"], (name, persona)
    # The owner's own session sees its team in the site's 404 page header (api-root): only JSON is checked.
    is_json = response.get("Content-Type", "").startswith("application/json")
    if persona in OUTSIDERS + API_EXTRA and (persona != "session" or is_json):
        content = body(response)
        for secret_text in (SECRET_PROMPT, SECRET_SLUG, TEAM_NAME, "Secret board", "RIFF-secret-thumb"):
            assert secret_text.encode() not in content, f"{name} leaks {secret_text!r} to {persona}"
    assert Image.objects.filter(id=world.image.id).exists()
