"""Team pages for each role (owner, admin, member, viewer), outsiders and anonymous visitors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from teams import services
from teams.active import SESSION_KEY
from teams.models import Invitation, Membership, Role, Team
from tests.teams import make_team

pytestmark = pytest.mark.django_db

MEMBERS = ("alice", "bob", "carol", "dave")  # owner, admin, member, viewer


@pytest.fixture
def people(make_user):
    return {name: make_user(name) for name in (*MEMBERS, "eve")}


@pytest.fixture
def team(people) -> Team:
    return make_team(people["alice"], name="Studio", bob=Role.ADMIN, carol=Role.MEMBER, dave=Role.VIEWER)


@pytest.fixture
def invitation(people, team) -> Invitation:
    return services.invitation_create(team=team, inviter=people["alice"], invitee="eve", role=Role.MEMBER)


def url(name: str, team: Team) -> str:
    return reverse(name, args=[team.code])


def role_of(username: str, team: Team) -> str | None:
    return team.memberships.filter(user__username=username).values_list("role", flat=True).first()


def flashes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- the team list and creating a team ---


def test_team_list_shows_my_teams_with_my_role(client, people, team):
    make_team(people["eve"], name="Elsewhere")
    client.force_login(people["dave"])
    response = client.get(reverse("teams:list"))
    assert response.status_code == 200
    assert [(row.team, row.role, row.member_count) for row in response.context["rows"]] == [
        (team, Role.VIEWER, 4)
    ]
    assert "Elsewhere" not in response.content.decode()


def test_creating_a_team_makes_me_owner_and_opens_it(client, alice):
    client.force_login(alice)
    response = client.post(reverse("teams:list"), {"name": "  Night   shift "})
    team = Team.objects.get()
    assert response.status_code == 302 and response["Location"] == url("teams:detail", team)
    assert team.name == "Night shift" and role_of("alice", team) == Role.OWNER


def test_a_blank_team_name_is_an_error_beside_the_field(client, alice):
    client.force_login(alice)
    response = client.post(reverse("teams:list"), {"name": "   "})
    assert response.status_code == 200
    assert 'data-field="name"' in response.content.decode() and response.context["form"].errors["name"]
    assert not Team.objects.exists()


# --- the team page, as each role sees it ---


@pytest.mark.parametrize(
    ("username", "manages", "owns"),
    [("alice", True, True), ("bob", True, False), ("carol", False, False), ("dave", False, False)],
)
def test_every_member_sees_the_members_only_managers_see_controls(
    client, people, team, invitation, username, manages, owns
):
    client.force_login(people[username])
    response = client.get(url("teams:detail", team))
    assert response.status_code == 200
    html = response.content.decode()
    assert all(f'data-member="{name}"' in html for name in MEMBERS)
    assert ('data-testid="invite-panel"' in html) is manages
    assert ('data-testid="role-form"' in html) is manages
    assert ('data-testid="remove-form"' in html) is manages
    assert (invitation.token in html) is manages  # the join link is never shown to members or viewers
    assert ('data-testid="rename-panel"' in html) is owns
    assert ('<option value="owner"' in html) is owns


def test_an_admin_gets_no_controls_on_the_owner(client, people, team):
    client.force_login(people["bob"])
    rows = {
        row.membership.user.username: row for row in client.get(url("teams:detail", team)).context["rows"]
    }
    assert {name: row.can_change for name, row in rows.items()} == {
        "alice": False,
        "bob": True,
        "carol": True,
        "dave": True,
    }
    assert rows["carol"].roles == [Role.ADMIN, Role.MEMBER, Role.VIEWER]


def test_the_last_owner_is_told_to_hand_over_before_leaving(client, people, team):
    client.force_login(people["alice"])
    response = client.get(url("teams:detail", team))
    assert response.context["is_last_owner"]
    html = response.content.decode()
    assert reverse("teams:leave", args=[team.code]) not in html
    assert 'disabled aria-describedby="leave-reason">Leave Studio</button>' in html
    assert "first transfer ownership to another member, or delete the team" in html


def test_team_page_queries_do_not_grow_with_members(client, people, team, make_user):
    client.force_login(people["alice"])
    services.invitation_create(team=team, inviter=people["alice"], invitee="eve", role=Role.MEMBER)
    client.get(url("teams:detail", team))  # warm: the header's values are cached from the first request on
    with CaptureQueriesContext(connection) as few:
        client.get(url("teams:detail", team))
    for n in range(6):
        Membership.objects.create(team=team, user=make_user(f"extra{n}"), role=Role.MEMBER)
        services.invitation_create(
            team=team, inviter=people["alice"], invitee=f"x{n}@example.com", role="viewer"
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(url("teams:detail", team))
    assert len(response.context["rows"]) == 10 and len(response.context["invitations"]) == 7
    assert len(many) == len(few)


POSTS = [
    "teams:invite",
    "teams:member_role",
    "teams:member_remove",
    "teams:revoke",
    "teams:rename",
    "teams:leave",
]


@pytest.mark.parametrize("name", ["teams:detail", *POSTS])
def test_outsiders_get_404(client, people, team, name):
    client.force_login(people["eve"])
    send = client.get if name == "teams:detail" else client.post
    assert send(url(name, team), {"member": "carol", "role": "viewer", "name": "X"}).status_code == 404
    assert role_of("carol", team) == Role.MEMBER and Team.objects.get().name == "Studio"


def test_an_unknown_team_code_is_404(client, alice):
    client.force_login(alice)
    assert client.get("/teams/00000000-0000-0000-0000-000000000000/").status_code == 404


@pytest.mark.parametrize("name", ["teams:detail", *POSTS])
def test_anonymous_visitors_are_sent_to_log_in(client, team, name):
    send = client.get if name == "teams:detail" else client.post
    response = send(url(name, team))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_anonymous_visitors_are_sent_to_log_in_from_the_list(client):
    response = client.get(reverse("teams:list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("username", ["carol", "dave"])
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("teams:invite", {"invitee": "eve", "role": "viewer"}),
        ("teams:member_role", {"member": "alice", "role": "viewer"}),
        ("teams:member_remove", {"member": "alice"}),
        ("teams:revoke", {"invitation": "TOKEN"}),
        ("teams:rename", {"name": "Mine now"}),
    ],
)
def test_members_and_viewers_cannot_manage(client, people, team, invitation, username, name, data):
    client.force_login(people[username])
    data = {key: invitation.token if value == "TOKEN" else value for key, value in data.items()}
    assert client.post(url(name, team), data).status_code == 403
    assert Invitation.objects.get().revoked_at is None and Invitation.objects.count() == 1
    assert role_of("alice", team) == Role.OWNER and Team.objects.get().name == "Studio"


def test_an_admin_cannot_rename_the_team(client, people, team):
    client.force_login(people["bob"])
    assert client.post(url("teams:rename", team), {"name": "Bob's"}).status_code == 403


def test_the_owner_renames_the_team(client, people, team):
    client.force_login(people["alice"])
    response = client.post(url("teams:rename", team), {"name": "Atelier"})
    assert response.status_code == 302 and Team.objects.get().name == "Atelier"


# --- inviting ---


def test_the_owner_invites_by_username_and_sees_the_link(client, people, team):
    client.force_login(people["alice"])
    response = client.post(url("teams:invite", team), {"invitee": "eve", "role": "admin"}, follow=True)
    invitation = Invitation.objects.get()
    assert (invitation.invitee, invitation.role, invitation.invited_by) == ("eve", "admin", people["alice"])
    html = response.content.decode()
    assert "Invited eve. If eve has an account, they find it under Teams" in html
    assert f'value="http://testserver/teams/join/{invitation.token}/"' in html


def test_an_invitation_by_email_is_mailed(client, people, team, mailoutbox):
    client.force_login(people["bob"])
    response = client.post(url("teams:invite", team), {"invitee": "New@Example.com", "role": "viewer"})
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.invitee == "new@example.com"
    (mail,) = mailoutbox
    assert mail.to == ["new@example.com"]
    assert f"http://testserver/teams/join/{invitation.token}/" in mail.body
    assert "E-mailed it to new@example.com" in flashes(response)[0]


@pytest.mark.parametrize(
    ("invitee", "error"),
    [("carol", "already a member"), ("not a name!", "username or an e-mail")],
)
def test_invite_errors_appear_beside_the_field(client, people, team, invitee, error):
    client.force_login(people["alice"])
    response = client.post(url("teams:invite", team), {"invitee": invitee, "role": "member"})
    assert response.status_code == 200
    assert error in " ".join(response.context["invite_form"].errors["invitee"])
    assert 'id="invitee-error"' in response.content.decode()
    assert not Invitation.objects.exists()


def test_an_admin_cannot_invite_an_owner(client, people, team):
    client.force_login(people["bob"])
    response = client.post(url("teams:invite", team), {"invitee": "eve", "role": "owner"})
    assert response.status_code == 200 and "role" in response.context["invite_form"].errors
    assert not Invitation.objects.exists()


def test_revoking_an_invitation(client, people, team, invitation):
    client.force_login(people["bob"])
    response = client.post(url("teams:revoke", team), {"invitation": invitation.token})
    assert response.status_code == 302
    assert Invitation.objects.get().revoked_at is not None


def test_revoking_another_teams_invitation_is_404(client, people, team):
    other = make_team(people["eve"], name="Elsewhere")
    foreign = services.invitation_create(team=other, inviter=people["eve"], invitee="bob", role="member")
    client.force_login(people["alice"])
    assert client.post(url("teams:revoke", team), {"invitation": foreign.token}).status_code == 404
    assert Invitation.objects.get().revoked_at is None


# --- roles and removal ---


def test_an_admin_changes_a_members_role(client, people, team):
    client.force_login(people["bob"])
    response = client.post(url("teams:member_role", team), {"member": "carol", "role": "viewer"})
    assert response.status_code == 302 and role_of("carol", team) == Role.VIEWER
    assert flashes(response) == ["carol is now viewer."]


def test_an_admin_cannot_demote_the_owner(client, people, team):
    client.force_login(people["bob"])
    response = client.post(url("teams:member_role", team), {"member": "alice", "role": "viewer"})
    assert response.status_code == 302 and role_of("alice", team) == Role.OWNER
    assert "Only an owner" in flashes(response)[0]


def test_the_last_owner_cannot_demote_herself(client, people, team):
    client.force_login(people["alice"])
    response = client.post(url("teams:member_role", team), {"member": "alice", "role": "admin"})
    assert role_of("alice", team) == Role.OWNER and "needs an owner" in flashes(response)[0]


def test_changing_the_role_of_a_non_member_is_404(client, people, team):
    client.force_login(people["alice"])
    assert client.post(url("teams:member_role", team), {"member": "eve", "role": "admin"}).status_code == 404


def test_an_admin_removes_a_member_but_not_the_owner(client, people, team):
    client.force_login(people["bob"])
    client.post(url("teams:member_remove", team), {"member": "carol"})
    assert role_of("carol", team) is None
    response = client.post(url("teams:member_remove", team), {"member": "alice"})
    assert role_of("alice", team) == Role.OWNER and "Only an owner" in flashes(response)[-1]


def test_a_viewer_leaves_and_her_active_team_is_reset(client, people, team):
    client.force_login(people["dave"])
    session = client.session
    session[SESSION_KEY] = str(team.code)
    session.save()
    response = client.post(url("teams:leave", team))
    assert response.status_code == 302 and response["Location"] == reverse("teams:list")
    assert role_of("dave", team) is None and SESSION_KEY not in client.session
    assert client.get(url("teams:detail", team)).status_code == 404


def test_the_last_owner_cannot_leave_and_is_told_why_in_the_page(client, people, team):
    client.force_login(people["alice"])
    response = client.post(url("teams:leave", team))
    assert response.status_code == 409 and role_of("alice", team) == Role.OWNER
    html = response.content.decode()
    reason = "You are the only owner of Studio, so you cannot leave it yet: first transfer ownership"
    assert '<header class="topbar">' in html and f'class="flash error" role="status">{reason}' in html
    assert 'data-testid="transfer-panel"' in html and 'data-testid="delete-panel"' in html


# --- joining by link ---


def join_url(invitation: Invitation) -> str:
    return reverse("teams:join", args=[invitation.token])


def test_anonymous_visitors_log_in_first_and_come_back(client, invitation):
    response = client.get(join_url(invitation))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={join_url(invitation)}"


def test_the_invited_user_sees_team_and_role_and_accepts_with_a_post(client, people, invitation, team):
    client.force_login(people["eve"])
    response = client.get(join_url(invitation))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="join-team">Studio<' in html and 'data-testid="join-role">member<' in html
    assert role_of("eve", team) is None  # looking does not join
    response = client.post(join_url(invitation))
    assert response.status_code == 302 and response["Location"] == url("teams:detail", team)
    assert role_of("eve", team) == Role.MEMBER
    assert Invitation.objects.get().accepted_by == people["eve"]
    assert "Welcome to Studio! You joined as member and are now working in the team." in flashes(response)
    assert client.session[SESSION_KEY] == str(team.code)  # joining switches to the team


def test_someone_else_is_refused_and_learns_nothing_about_the_team(client, people, invitation, team):
    outsider = people["eve"].__class__.objects.create_user("mallory", password="x")
    client.force_login(outsider)
    response = client.get(join_url(invitation))
    html = response.content.decode()
    assert response.status_code == 200 and "This invitation is for someone else" in html
    assert "Studio" not in html and "Accept and join" not in html
    response = client.post(join_url(invitation))
    assert response.status_code == 409 and role_of("mallory", team) is None
    assert Invitation.objects.get().accepted_at is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, "This invitation expired"),
        ({"revoked_at": timezone.now()}, "This invitation was withdrawn"),
        ({"accepted_at": timezone.now()}, "has already been used"),
    ],
)
def test_expired_withdrawn_and_used_links_say_so_and_do_nothing(
    client, people, invitation, team, change, message
):
    Invitation.objects.filter(pk=invitation.pk).update(**change)
    client.force_login(people["eve"])
    assert message in client.get(join_url(invitation)).content.decode()
    response = client.post(join_url(invitation))
    assert response.status_code == 409 and message in response.content.decode()
    assert role_of("eve", team) is None


def test_a_member_opening_an_old_link_is_pointed_to_the_team(client, people, team):
    invitation = services.invitation_create(team=team, inviter=people["alice"], invitee="eve", role="viewer")
    services.invitation_accept(invitation=invitation, user=people["eve"])
    client.force_login(people["eve"])
    html = client.get(join_url(invitation)).content.decode()
    assert "You have already accepted this invitation" in html and url("teams:detail", team) in html


def test_an_unknown_link_is_404(client, alice):
    client.force_login(alice)
    assert client.get(reverse("teams:join", args=["no-such-token"])).status_code == 404
