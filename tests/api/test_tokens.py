"""Tokens: made on /settings/tokens/ or by the command, stored hashed, shown once, revoked, expired."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from api.models import ApiToken
from api.services import token_authenticate
from teams.models import Membership
from tests.api.helpers import api_client, token_for
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db


def test_the_page_creates_a_token_shows_it_once_and_stores_only_its_digest(client, alice):
    team = make_team(alice, name="Studio")
    client.force_login(alice)
    page = client.get(reverse("tokens:list"))
    assert page.status_code == 200 and b"API tokens" in page.content
    assert b'href="/settings/tokens/"' in page.content  # reachable from the header menu
    response = client.post(
        reverse("tokens:list"),
        {"name": "nightly batch", "team": str(team.code), "scopes": ["read", "generate"], "expires": "30"},
    )
    assert response.status_code == 201
    secret = response.context["created"].secret
    assert secret.startswith("pgt_") and secret.encode() in response.content
    token = ApiToken.objects.get()
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {token.digest, token.prefix, token.name, token.scopes}
    assert token.team == team and token.scope_list == ["generate", "read"]
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    again = client.get(reverse("tokens:list"))
    assert secret.encode() not in again.content and token.prefix.encode() in again.content


def test_a_token_can_only_act_in_a_team_of_its_user(client, alice, bob):
    team = make_team(bob, name="Not Alice's")
    client.force_login(alice)
    response = client.post(reverse("tokens:list"), {"name": "x", "team": str(team.code), "scopes": ["read"]})
    assert response.status_code == 200 and not ApiToken.objects.exists()
    assert response.context["form"].errors["team"]


def test_revoking_stops_the_token_at_once_and_only_its_owner_may(client, alice, bob):
    secret = token_for(alice)
    token = ApiToken.objects.get()
    assert api_client(secret).get("/api/v1/images").status_code == 200
    client.force_login(bob)
    assert client.post(reverse("tokens:revoke", args=[token.id])).status_code == 404
    client.force_login(alice)
    assert client.post(reverse("tokens:revoke", args=[token.id])).status_code == 302
    response = api_client(secret).get("/api/v1/images")
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_revoked"


def test_an_expired_token_is_refused(alice):
    secret = token_for(alice)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_client(secret).get("/api/v1/images")
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_expired"


def test_use_is_recorded_at_most_once_a_minute(alice):
    secret = token_for(alice)
    assert ApiToken.objects.get().last_used_at is None
    token_authenticate(secret)
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    token_authenticate(secret)
    assert ApiToken.objects.get().last_used_at == first


def test_the_command_prints_the_token_alone_on_its_last_line(alice):
    team = make_team(alice, name="Studio")
    out = StringIO()
    call_command(
        "create_api_token",
        "alice",
        "--team",
        str(team.code),
        "--scopes",
        "generate,read",
        "--name",
        "ci",
        stdout=out,
    )
    secret = out.getvalue().strip().splitlines()[-1]
    token = token_authenticate(secret)
    assert token.team == team and token.scope_list == ["generate", "read"] and token.name == "ci"
    with pytest.raises(CommandError):
        call_command("create_api_token", "alice", "--scopes", "delete", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", stdout=StringIO())


def test_a_token_of_a_member_removed_from_the_team_is_refused(alice, bob):
    team = make_team(alice, name="Studio", member=bob)
    secret = token_for(bob, team=team)
    assert api_client(secret).get("/api/v1/images").status_code == 200
    Membership.objects.filter(team=team, user=bob).delete()
    response = api_client(secret).get("/api/v1/images")
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_a_member"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer ",
        "Basic abc",
        "Bearer pgt_unknown",
        "Bearer not-even-ours",
        "Bearer " + "pgt_" + "x" * 300,
    ],
)
def test_missing_or_unknown_tokens_get_401_in_the_one_error_shape(header):
    client = api_client(None)
    response = client.get("/api/v1/images", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] in {"token_missing", "token_invalid"} and error["message"]
