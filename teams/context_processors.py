"""The page header's team switcher: the active team, the user's teams (labelled apart) and their role in the
active one."""

from __future__ import annotations

from django.http import HttpRequest

from teams.active import active_team
from teams.models import Role
from teams.permissions import memberships_of
from teams.selectors import team_choices


def teams(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "session"):
        return {"active_team": None, "my_teams": [], "active_role": None}
    team = active_team(request)  # reads the same cached memberships: one query per request at most
    memberships = memberships_of(user)
    return {
        "active_team": team,
        "my_teams": team_choices(user=user),  # TeamChoice rows: team and label
        "active_role": Role(memberships[team.id].role) if team else None,
    }
