"""Django admin: teams with their members inline, and invitations."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from teams import services
from teams.models import Role
from tests.teams import make_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "x"))
    return client


def test_team_and_invitation_admin_pages_open(staff_client, alice, bob):
    team = make_team(alice, name="Studio", bob=Role.ADMIN)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="e@example.com", role="viewer")
    pages = [
        reverse("admin:teams_team_changelist") + "?q=Studio",
        reverse("admin:teams_team_change", args=[team.pk]),
        reverse("admin:teams_team_add"),
        reverse("admin:teams_invitation_changelist"),
        reverse("admin:teams_invitation_change", args=[invitation.pk]),
        reverse("admin:teams_invitation_add"),
    ]
    for page in pages:
        assert staff_client.get(page).status_code == 200, page
    html = staff_client.get(reverse("admin:teams_team_change", args=[team.pk])).content.decode()
    assert 'name="memberships-0-role"' in html and 'name="memberships-1-role"' in html
    add_form = staff_client.get(reverse("admin:teams_invitation_add")).context["adminform"].form
    assert add_form.initial["expires_at"] > invitation.created_at  # a week from now by default
