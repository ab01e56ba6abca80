"""Tests of teams, plus the helpers they share."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from teams import services
from teams.models import Membership, Role, Team


def make_team(owner, *, name: str = "Studio", **members: Role) -> Team:
    """A team owned by ``owner``, with ``members`` given as ``username=role`` of existing users."""
    team = services.team_create(user=owner, name=name)
    for username, role in members.items():
        user = get_user_model().objects.get(username=username)
        Membership.objects.create(team=team, user=user, role=role)
    return team
