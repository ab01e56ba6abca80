"""Invitations cannot be used to learn who has an account or their address, to spam someone, or to hand out
a role the inviter no longer holds."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from pixelgallery.moments import exact_text
from teams import services
from teams.models import Invitation, Membership, Role, Team
from teams.services import InvitationLimitError, TeamRuleError
from tests.teams import make_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    """alice owns the team, bob is an admin; eve (with an address) and mallory are outsiders."""
    users = {name: make_user(name) for name in ("alice", "bob", "eve", "mallory")}
    users["eve"].email = "eve.secret@example.com"
    users["eve"].save()
    return users


@pytest.fixture
def team(people) -> Team:
    return make_team(people["alice"], name="Studio", bob=Role.ADMIN)


def invite(client, team: Team, invitee: str, role: str = "member", *, follow: bool = False):
    return client.post(
        reverse("teams:invite", args=[team.code]), {"invitee": invitee, "role": role}, follow=follow
    )


def join_url(invitation: Invitation) -> str:
    return reverse("teams:join", args=[invitation.token])


def role_of(username: str, team: Team) -> str | None:
    return team.memberships.filter(user__username=username).values_list("role", flat=True).first()


def page_text(response, name: str) -> str:
    """The page, masking what differs between two invitations anyway: name, token, form token, times."""
    html = response.content.decode()
    for invitation in Invitation.objects.all():
        html = html.replace(invitation.token, "TOKEN")
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", html)
    html = re.sub(r"<time [^>]*>[^<]*</time>", "TIME", html)
    return re.sub(rf"\b{re.escape(name)}\b", "NAME", html)  # the name as a word ("every" stays)


# --- no e-mail leak, no user enumeration ---


def test_inviting_an_existing_and_an_unknown_name_answers_the_same(client, people, team, mailoutbox):
    # Mallory makes her own team and probes: "eve" exists (with an address), "zoe" does not; equal lengths.
    own = make_team(people["mallory"], name="Probe")
    client.force_login(people["mallory"])
    known = invite(client, own, "eve", follow=True)
    services.invitation_revoke(actor=people["mallory"], invitation=Invitation.objects.get(invitee="eve"))
    unknown = invite(client, own, "zoe", follow=True)

    assert known.redirect_chain == unknown.redirect_chain == [(reverse("teams:detail", args=[own.code]), 302)]
    assert known.status_code == unknown.status_code == 200
    assert page_text(known, "eve") == page_text(unknown, "zoe")  # the flash message included
    assert "Invited zoe. If zoe has an account" in unknown.content.decode()
    assert "eve.secret@example.com" not in known.content.decode()
    assert "example.com" not in known.content.decode() + unknown.content.decode()
    # Eve got one mail for her one invitation; nobody was mailed for "zoe".
    (mail,) = mailoutbox
    assert mail.to == ["eve.secret@example.com"]


def test_an_invitation_by_username_is_mailed_once_and_waits_on_the_teams_page(
    client, people, team, mailoutbox
):
    client.force_login(people["alice"])
    invite(client, team, "eve", "viewer")
    invite(client, team, "eve", "viewer")  # a second try is refused (pending), and mails nobody
    invitation = Invitation.objects.get()
    assert len(mailoutbox) == 1 and join_url(invitation) in mailoutbox[0].body
    assert f"it works once, until {exact_text(invitation.expires_at)})" in mailoutbox[0].body

    client.force_login(people["eve"])
    listing = client.get(reverse("teams:list"))
    assert list(listing.context["invitations"]) == [invitation]
    assert join_url(invitation) in listing.content.decode()
    client.post(join_url(invitation))
    assert role_of("eve", team) == Role.VIEWER
    assert client.get(reverse("teams:list")).context["invitations"] == []


def test_an_invitation_by_email_waits_on_the_teams_page_of_that_address(client, people, team):
    invitation = services.invitation_create(
        team=team, inviter=people["alice"], invitee="EVE.Secret@example.com", role="member"
    )
    client.force_login(people["eve"])
    assert client.get(reverse("teams:list")).context["invitations"] == [invitation]
    client.force_login(people["mallory"])
    assert client.get(reverse("teams:list")).context["invitations"] == []


# --- rate limit per inviter, counted in the database ---


def test_the_attempt_past_the_hourly_limit_is_refused_in_the_page(client, people, team, settings, mailoutbox):
    settings.TEAM_INVITATIONS_PER_HOUR = 3
    client.force_login(people["alice"])
    other = make_team(people["alice"], name="Second")
    assert invite(client, team, "eve").status_code == 302
    assert invite(client, team, "nobody-here").status_code == 302  # unknown names count too
    assert invite(client, other, "x@example.org").status_code == 302  # in any team
    refused = invite(client, team, "someone")
    assert refused.status_code == 429
    assert "You have sent 3 invitations in the last hour, the most allowed" in refused.content.decode()
    assert 'id="invitee-error"' in refused.content.decode()  # beside the field, in the team page
    assert Invitation.objects.count() == 3 and len(mailoutbox) == 2
    # Another inviter has their own allowance.
    client.force_login(people["bob"])
    assert invite(client, team, "someone").status_code == 302


def test_withdrawn_invitations_still_count_and_old_ones_stop_counting(people, team, settings):
    settings.TEAM_INVITATIONS_PER_HOUR = 2
    alice = people["alice"]
    for _ in range(2):  # invite and withdraw in a loop: each one could have mailed eve
        invitation = services.invitation_create(team=team, inviter=alice, invitee="eve", role="member")
        services.invitation_revoke(actor=alice, invitation=invitation)
    with pytest.raises(
        InvitationLimitError, match=r"You can invite again at \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d\."
    ):
        services.invitation_create(team=team, inviter=alice, invitee="eve", role="member")
    Invitation.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    assert services.invitation_create(team=team, inviter=alice, invitee="eve", role="member")


# --- an invitation never carries more than its inviter may still give ---


@pytest.mark.parametrize("lose_it", ["remove", "demote", "leave"])
def test_an_admins_invitations_are_withdrawn_when_they_lose_the_right(people, team, lose_it):
    alice, bob = people["alice"], people["bob"]
    invitation = services.invitation_create(team=team, inviter=bob, invitee="eve", role=Role.ADMIN)
    bobs = Membership.objects.get(team=team, user=bob)
    if lose_it == "remove":
        services.membership_remove(actor=alice, membership=bobs)
    elif lose_it == "demote":
        services.membership_set_role(actor=alice, membership=bobs, role=Role.MEMBER)
    else:
        services.membership_remove(actor=bob, membership=bobs)
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    with pytest.raises(TeamRuleError, match="withdrawn"):
        services.invitation_accept(invitation=invitation, user=people["eve"])
    assert role_of("eve", team) is None


def test_an_owner_demoted_to_admin_keeps_only_the_invitations_an_admin_may_send(people, team, make_user):
    alice, bob = people["alice"], people["bob"]
    carol = make_user("carol")
    Membership.objects.filter(team=team, user=bob).update(role=Role.OWNER)
    as_owner = services.invitation_create(team=team, inviter=alice, invitee="eve", role=Role.OWNER)
    as_admin = services.invitation_create(team=team, inviter=alice, invitee="carol", role=Role.ADMIN)
    services.membership_set_role(
        actor=bob, membership=Membership.objects.get(team=team, user=alice), role="admin"
    )
    with pytest.raises(TeamRuleError, match="withdrawn"):
        services.invitation_accept(invitation=as_owner, user=people["eve"])
    services.invitation_accept(invitation=as_admin, user=carol)
    assert (role_of("eve", team), role_of("carol", team)) == (None, Role.ADMIN)


def test_acceptance_rechecks_the_inviters_right_when_it_changed_behind_the_services(people, team):
    # Support staff demote bob in the Django admin: nothing withdrew his invitations; acceptance refuses.
    invitation = services.invitation_create(team=team, inviter=people["bob"], invitee="eve", role=Role.ADMIN)
    Membership.objects.filter(team=team, user=people["bob"]).update(role=Role.MEMBER)
    with pytest.raises(TeamRuleError, match="may no longer invite people as admin"):
        services.invitation_accept(invitation=invitation, user=people["eve"])
    assert role_of("eve", team) is None


def test_the_join_page_refuses_an_invitation_from_a_removed_admin(client, people, team):
    client.force_login(people["bob"])
    invite(client, team, "eve", "admin")
    invitation = Invitation.objects.get()
    client.force_login(people["alice"])
    remove = reverse("teams:member_remove", args=[team.code])
    assert client.post(remove, {"member": "bob"}).status_code == 302

    client.force_login(people["eve"])
    assert client.get(reverse("teams:list")).context["invitations"] == []
    response = client.post(join_url(invitation))
    assert response.status_code == 409 and "This invitation was withdrawn" in response.content.decode()
    assert role_of("eve", team) is None


def test_the_join_page_refuses_when_the_inviter_was_demoted_behind_the_services(client, people, team):
    invitation = services.invitation_create(team=team, inviter=people["bob"], invitee="eve", role=Role.ADMIN)
    Membership.objects.filter(team=team, user=people["bob"]).delete()
    client.force_login(people["eve"])
    assert client.get(reverse("teams:list")).context["invitations"] == []
    assert "may no longer invite people as admin" in client.get(join_url(invitation)).content.decode()
    response = client.post(join_url(invitation))
    assert response.status_code == 409 and "may no longer invite people as admin" in response.content.decode()
    assert role_of("eve", team) is None
