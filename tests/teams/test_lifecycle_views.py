"""A team's whole life in its pages: delete with confirmation, hand over, names, accept/decline, no team."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages import constants, get_messages
from django.urls import reverse

from credits.models import LedgerEntry
from credits.services import ledger_charge_images
from generations.models import Generation, Image
from library.models import Collection
from teams import services
from teams.active import SESSION_KEY
from teams.models import Invitation, Membership, Role, Team
from tests.library.factories import make_image
from tests.teams import make_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return {name: make_user(name) for name in ("alice", "bob", "carol", "eve")}


@pytest.fixture
def team(people) -> Team:
    """Alice owns it, bob is an admin, carol a member; two images (one in a collection), charged."""
    team = make_team(people["alice"], name="Studio", bob=Role.ADMIN, carol=Role.MEMBER)
    images = [make_image(people["alice"], team=team, with_files=True) for _ in range(2)]
    Collection.objects.create(name="Board", team=team, created_by=people["alice"])
    for image in images:
        ledger_charge_images(generation=image.generation, images=[image], credits=Decimal("2.5"))
    return team


def url(name: str, team: Team) -> str:
    return reverse(name, args=[team.code])


def log_in(client, user, *, active: Team | None = None) -> None:
    client.force_login(user)
    if active is not None:
        session = client.session
        session[SESSION_KEY] = str(active.code)
        session.save()


def flashes(response) -> list[tuple[int, str]]:
    return [(message.level, str(message)) for message in get_messages(response.wsgi_request)]


# --- deleting ---


def test_the_confirmation_page_states_what_is_deleted_and_what_is_kept(client, people, team):
    log_in(client, people["alice"])
    response = client.get(url("teams:delete", team))
    assert response.status_code == 200
    html = " ".join(response.content.decode().split())
    assert "2 images (and their files) and 1 collection will be deleted" in html
    assert (
        "The credits ledger (2 entries, 5 credits spent) is kept for accounting and stays in the "
        "members' own credit history." in html
    )
    assert 'name="confirm"' in html and 'data-testid="delete-name">Studio<' in html
    detail = client.get(url("teams:detail", team)).content.decode()
    assert url("teams:delete", team) in detail  # the owner finds the way there


@pytest.mark.parametrize(("username", "status"), [("bob", 403), ("carol", 403), ("eve", 404)])
def test_only_owners_reach_the_delete_page(client, people, team, username, status):
    log_in(client, people[username])
    assert client.get(url("teams:delete", team)).status_code == status
    assert client.post(url("teams:delete", team), {"confirm": "Studio"}).status_code == status
    assert Team.objects.get().deleted_at is None
    if username == "bob":
        assert url("teams:delete", team) not in client.get(url("teams:detail", team)).content.decode()


def test_a_wrong_name_is_a_form_error_and_deletes_nothing(client, people, team):
    log_in(client, people["alice"])
    response = client.post(url("teams:delete", team), {"confirm": "studio"})
    assert response.status_code == 200
    assert 'id="confirm-error">Type Studio exactly as shown to delete the team.<' in response.content.decode()
    assert Team.objects.get().deleted_at is None and Image.objects.count() == 2


def test_deleting_sends_everyone_back_to_personal_and_its_pages_answer_404(client, people, team):
    bob_client = type(client)()
    log_in(bob_client, people["bob"], active=team)
    log_in(client, people["alice"], active=team)
    response = client.post(url("teams:delete", team), {"confirm": "Studio"})
    assert response.status_code == 302 and response["Location"] == reverse("teams:list")
    assert flashes(response) == [
        (constants.SUCCESS, "Deleted Studio. Its credits ledger is kept in every member's credit history.")
    ]
    assert SESSION_KEY not in client.session
    assert Image.objects.count() == 0 and LedgerEntry.objects.filter(team=team).count() == 2
    for who in (client, bob_client):
        for name in ("teams:detail", "teams:delete", "teams:leave", "teams:rename"):
            send = who.get if name in ("teams:detail", "teams:delete") else who.post
            assert send(url(name, team)).status_code == 404, name
        page = who.get(reverse("teams:list"))
        assert b"Studio" not in page.content and page.context["active_team"] is None
        assert page.context["my_teams"] == []
        assert who.get(reverse("team_library")).status_code == 302  # no team library any more
    switched = bob_client.post(reverse("teams:switch"), {"team": str(team.code)})
    assert switched.status_code == 302
    assert (constants.ERROR, "You are not a member of that team.") in flashes(switched)


def test_work_in_flight_holds_the_deletion_back_with_the_reason_in_the_page(client, people, team):
    Generation.objects.create(
        user=people["carol"], team=team, prompt="soon", model="flux-pro", status="queued"
    )
    log_in(client, people["alice"])
    page = client.get(url("teams:delete", team))
    assert page.status_code == 200 and 'data-testid="delete-refusal"' in page.content.decode()
    assert 'name="confirm"' not in page.content.decode()
    response = client.post(url("teams:delete", team), {"confirm": "Studio"})
    html = response.content.decode()
    assert response.status_code == 409 and '<header class="topbar">' in html
    assert "1 generation is still queued, running or saving in this team." in html
    assert Team.objects.get().deleted_at is None and Image.objects.count() == 2


# --- handing over ---


def test_the_owner_hands_the_team_over_from_its_page(client, people, team):
    log_in(client, people["alice"])
    html = client.get(url("teams:detail", team)).content.decode()
    assert 'data-testid="transfer-panel"' in html and '<option value="bob">bob (admin)</option>' in html
    response = client.post(url("teams:transfer", team), {"member": "carol"})
    assert response.status_code == 302 and response["Location"] == url("teams:detail", team)
    assert flashes(response) == [
        (constants.SUCCESS, "carol is now an owner of Studio, and you are an admin.")
    ]
    roles = dict(team.memberships.values_list("user__username", "role"))
    assert roles == {"alice": Role.ADMIN, "bob": Role.ADMIN, "carol": Role.OWNER}
    assert (
        client.post(url("teams:transfer", team), {"member": "bob"}).status_code == 403
    )  # no longer an owner


@pytest.mark.parametrize(("member", "status"), [("", 302), ("eve", 404), ("alice", 302)])
def test_handing_over_to_nobody_an_outsider_or_myself_changes_nothing(client, people, team, member, status):
    log_in(client, people["alice"])
    response = client.post(url("teams:transfer", team), {"member": member})
    assert response.status_code == status
    if status == 302:
        assert flashes(response)[0][0] == constants.ERROR
    assert dict(team.memberships.values_list("user__username", "role"))["alice"] == Role.OWNER


def test_admins_see_no_transfer_or_delete_controls(client, people, team):
    log_in(client, people["bob"])
    html = client.get(url("teams:detail", team)).content.decode()
    assert 'data-testid="transfer-panel"' not in html and 'data-testid="delete-panel"' not in html
    assert client.post(url("teams:transfer", team), {"member": "bob"}).status_code == 403


# --- names ---


def test_creating_a_second_team_of_the_same_name_is_a_form_error(client, people, team):
    log_in(client, people["alice"])
    response = client.post(reverse("teams:list"), {"name": "  STUDIO "})
    assert response.status_code == 200
    assert 'id="name-error">You already have a team called “STUDIO”: choose another name.<' in (
        response.content.decode()
    )
    assert Team.objects.count() == 1


def test_renaming_to_a_name_in_my_switcher_is_a_form_error(client, people, team):
    other = make_team(people["eve"], name="Night")
    Membership.objects.create(team=other, user=people["alice"], role=Role.VIEWER)
    log_in(client, people["alice"])
    response = client.post(url("teams:rename", team), {"name": "night"})
    assert response.status_code == 200 and 'id="name-error">You already have a team called' in (
        response.content.decode()
    )
    assert Team.objects.get(pk=team.pk).name == "Studio"


def test_the_switcher_and_team_list_tell_same_named_teams_apart(client, people, team):
    Membership.objects.create(
        team=make_team(people["eve"], name="studio"), user=people["bob"], role=Role.MEMBER
    )
    log_in(client, people["bob"])
    html = client.get(reverse("teams:list")).content.decode()
    assert html.count("Studio · owned by alice") == 2  # the switcher and the list
    assert html.count("studio · owned by eve") == 2


# --- invitations for me ---


@pytest.mark.parametrize("invitee", ["eve", "eve@example.com"])
def test_the_invitee_accepts_from_the_panel_and_works_in_the_team_at_once(client, people, team, invitee):
    people["eve"].email = "Eve@example.com"
    people["eve"].save()
    invitation = services.invitation_create(
        team=team, inviter=people["bob"], invitee=invitee, role=Role.MEMBER
    )
    log_in(client, people["eve"])
    html = client.get(reverse("teams:list")).content.decode()
    assert f'action="{reverse("teams:join", args=[invitation.token])}"' in html
    assert f'action="{reverse("teams:decline", args=[invitation.token])}"' in html
    assert reverse("team_library") not in html  # no team yet, no team library link
    response = client.post(reverse("teams:join", args=[invitation.token]), follow=True)
    assert response.redirect_chain == [(url("teams:detail", team), 302)]
    assert client.session[SESSION_KEY] == str(team.code) and response.context["active_team"] == team
    html = response.content.decode()
    assert f'href="{reverse("team_library")}">Team library</a>' in html
    assert f'<option value="{team.code}" selected>Studio</option>' in html


def test_the_invitee_declines_and_the_invitation_is_gone_for_both(client, people, team):
    invitation = services.invitation_create(
        team=team, inviter=people["alice"], invitee="eve", role=Role.VIEWER
    )
    log_in(client, people["eve"])
    response = client.post(reverse("teams:decline", args=[invitation.token]))
    assert response.status_code == 302 and response["Location"] == reverse("teams:list")
    assert flashes(response) == [(constants.INFO, "You declined the invitation to Studio.")]
    assert 'data-testid="my-invitations"' not in client.get(reverse("teams:list")).content.decode()
    assert client.post(reverse("teams:join", args=[invitation.token])).status_code == 409
    assert not Membership.objects.filter(user=people["eve"]).exists()
    log_in(client, people["alice"])
    assert client.get(url("teams:detail", team)).context["invitations"] == []


def test_someone_else_cannot_decline_and_is_told_in_the_page(client, people, team):
    invitation = services.invitation_create(
        team=team, inviter=people["alice"], invitee="eve", role=Role.VIEWER
    )
    log_in(client, people["carol"])
    response = client.post(reverse("teams:decline", args=[invitation.token]))
    html = response.content.decode()
    assert response.status_code == 409 and '<header class="topbar">' in html
    assert "This invitation is for someone else: only they can decline it." in html
    assert Invitation.objects.get().declined_at is None
    assert client.post(reverse("teams:decline", args=["no-such-token"])).status_code == 404


# --- the team library without a team ---


def test_team_library_without_a_team_says_what_to_do_with_a_working_link(client, people):
    log_in(client, people["eve"])
    response = client.get(reverse("team_library"), follow=True)
    assert response.redirect_chain == [(reverse("my_images"), 302)]
    html = response.content.decode()
    assert '<div class="flash info" role="status">You are not in a team yet' in html
    assert f'<a href="{reverse("teams:list")}">Teams</a>' in html
    assert client.get(reverse("teams:list")).status_code == 200


def test_team_library_without_an_active_team_points_to_the_switcher(client, people, team):
    log_in(client, people["carol"])  # a member, working in Personal
    response = client.get(reverse("team_library"), follow=True)
    html = response.content.decode()
    assert '<div class="flash info" role="status">You are working in Personal' in html
    assert '<a href="#team-switcher-select">Working in</a>' in html and 'id="team-switcher-select"' in html
    assert f'<a href="{reverse("teams:list")}">Teams</a>' in html
