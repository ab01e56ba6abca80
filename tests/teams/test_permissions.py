"""``role_refusal``: the sentence a page shows when a role may not do a team-wide action, from the same rules
as ``can``."""

from __future__ import annotations

import pytest

from teams.models import Membership, Team
from teams.permissions import Action, can, role_refusal

pytestmark = pytest.mark.django_db


@pytest.fixture
def studio(make_user):
    people = {role: make_user(role) for role in ("owner", "admin", "member", "viewer", "stranger")}
    team = Team.objects.create(name="Studio", created_by=people["owner"])
    for role in ("owner", "admin", "member", "viewer"):
        Membership.objects.create(team=team, user=people[role], role=role)
    return team, people


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer", "stranger"])
def test_a_refusal_exactly_when_can_says_no(studio, role, action):
    team, people = studio
    reason = role_refusal(people[role], action, team=team)
    assert (reason is None) is can(people[role], action, team_id=team.id)
    assert role_refusal(people[role], action, team=None) is None  # personal space: their own work


def test_the_sentences_name_the_role_the_team_and_what_to_do(studio):
    team, people = studio
    assert role_refusal(people["viewer"], Action.GENERATE, team=team) == (
        "You are a viewer in Studio: viewers cannot generate there. Ask an admin of Studio to make you a "
        "member, or switch to Personal to generate on your own."
    )
    assert role_refusal(people["viewer"], Action.CURATE, team=team) == (
        "You are a viewer in Studio: viewers browse its collections and tags; members and admins change them."
    )
    assert role_refusal(people["member"], Action.MANAGE_MEMBERS, team=team) == (
        "You are a member in Studio: only its admins and owners can do that."
    )
    assert role_refusal(people["admin"], Action.MANAGE_TEAM, team=team) == (
        "You are an admin in Studio: only its owners can do that."
    )
    assert role_refusal(people["stranger"], Action.VIEW, team=team) == "You are not a member of Studio."
