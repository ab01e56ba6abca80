"""The team a user is working in, picked in the page header and kept in the session."""

from __future__ import annotations

from django.http import HttpRequest

from teams.models import Team
from teams.permissions import memberships_of

SESSION_KEY = "active_team"


def active_team(request: HttpRequest) -> Team | None:
    """The active team if the user is still a member of it; ``None`` means personal space."""
    code = request.session.get(SESSION_KEY)
    if not code:
        return None
    for membership in memberships_of(request.user).values():
        if str(membership.team.code) == code:
            return membership.team
    return None


def set_active_team(request: HttpRequest, team: Team | None) -> None:
    if team is None:
        request.session.pop(SESSION_KEY, None)
    else:
        request.session[SESSION_KEY] = str(team.code)
