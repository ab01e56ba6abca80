"""The active-team switcher: the POST view, the header's context and its snippet."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import get_messages
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from django.urls import reverse

from teams.active import SESSION_KEY
from teams.context_processors import teams as teams_context
from teams.models import Membership, Role
from tests.teams import make_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def studio(alice, bob):
    return make_team(alice, name="Studio", bob=Role.VIEWER)


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


def switch(client, team: str, next_url: str = "/teams/"):
    return client.post(reverse("teams:switch"), {"team": team, "next": next_url})


def test_switching_to_my_team_keeps_it_in_the_session_and_goes_back(bob_client, studio):
    response = switch(bob_client, str(studio.code))
    assert response.status_code == 302 and response["Location"] == "/teams/"
    assert bob_client.session[SESSION_KEY] == str(studio.code)


def test_the_header_shows_the_active_team_and_my_role_in_it(bob_client, studio):
    switch(bob_client, str(studio.code))
    response = bob_client.get(reverse("teams:list"))
    assert response.context["active_team"] == studio and response.context["active_role"] == Role.VIEWER
    html = response.content.decode()
    assert f'<option value="{studio.code}" selected>Studio</option>' in html
    assert 'data-testid="active-role" title="Your role in Studio">Viewer<' in html
    switcher = html[html.index('<form method="post" action="/teams/switch/"') :]
    switcher = switcher[: switcher.index("</form>")]
    assert "data-switch-button>Switch</button>" in switcher  # works without JavaScript
    assert "<script" not in switcher and "js/team-switcher.js" in html  # no inline scripts (CSP)


def test_personal_clears_the_active_team(bob_client, studio):
    switch(bob_client, str(studio.code))
    response = switch(bob_client, "")
    assert response.status_code == 302 and SESSION_KEY not in bob_client.session
    html = bob_client.get(reverse("teams:list")).content.decode()
    assert '<option value="" selected>Personal</option>' in html and 'data-testid="active-role"' not in html


@pytest.mark.parametrize("team", ["other", "not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_a_team_i_am_not_in_is_refused(bob_client, studio, make_user, team):
    switch(bob_client, str(studio.code))
    other = make_team(make_user("carol"), name="Elsewhere")
    response = switch(bob_client, str(other.code) if team == "other" else team)
    assert response.status_code == 302
    assert bob_client.session[SESSION_KEY] == str(studio.code)  # unchanged
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["You are not a member of that team."]


@pytest.mark.parametrize(
    ("next_url", "location"),
    [
        ("/g/abc/?page=2", "/g/abc/?page=2"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_only_safe_next_urls_are_followed(bob_client, studio, next_url, location):
    assert switch(bob_client, str(studio.code), next_url)["Location"] == location


def test_switching_needs_a_login_and_a_post(client, bob_client, studio):
    assert bob_client.get(reverse("teams:switch")).status_code == 405
    bob_client.logout()
    response = switch(client, str(studio.code))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_team_i_was_removed_from_is_no_longer_active(bob_client, studio, bob):
    switch(bob_client, str(studio.code))
    Membership.objects.filter(user=bob).delete()
    response = bob_client.get(reverse("teams:list"))
    assert response.context["active_team"] is None and response.context["my_teams"] == []


def header_context(user, active: str | None = None) -> dict:
    request = RequestFactory().get("/")
    request.user = user
    request.session = SessionStore()
    if active:
        request.session[SESSION_KEY] = active
    return teams_context(request)


def test_the_header_context_takes_one_query_however_many_teams(alice, make_user, django_assert_num_queries):
    teams = [make_team(make_user(f"owner{n}"), name=f"Team {n:02}") for n in range(8)]
    Membership.objects.bulk_create(Membership(team=t, user=alice, role=Role.MEMBER) for t in teams)
    alice = type(alice).objects.get(pk=alice.pk)  # a fresh user object: nothing cached yet
    with django_assert_num_queries(1):
        context = header_context(alice, active=str(teams[3].code))
        assert [choice.label for choice in context["my_teams"]] == [f"Team {n:02}" for n in range(8)]
        assert (context["active_team"], context["active_role"]) == (teams[3], Role.MEMBER)


def test_the_header_context_is_empty_for_anonymous_visitors(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert header_context(AnonymousUser()) == {"active_team": None, "my_teams": [], "active_role": None}


def test_a_page_rendered_by_a_post_sends_the_switcher_home(client, alice, studio):
    client.force_login(alice)
    response = client.post(reverse("teams:invite", args=[studio.code]), {"invitee": "", "role": "member"})
    assert response.status_code == 200  # the form error page, shown at the POST-only invite URL
    assert '<input type="hidden" name="next" value="">' in response.content.decode()
