"""Team services: creating, inviting, joining, roles and removal, with the rules that keep a team owned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from teams import services
from teams.models import Invitation, Membership, Role
from teams.permissions import Action, can, memberships_of
from teams.services import TeamRuleError
from tests.teams import make_team

pytestmark = pytest.mark.django_db


def role_of(user, team) -> str | None:
    return Membership.objects.filter(team=team, user=user).values_list("role", flat=True).first()


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def dave(make_user):
    return make_user("dave")


# --- creating ---


def test_creating_a_team_makes_the_creator_its_owner(alice):
    assert memberships_of(alice) == {}  # cached on the user object
    team = services.team_create(user=alice, name="Studio")
    assert (team.name, team.created_by) == ("Studio", alice)
    assert role_of(alice, team) == Role.OWNER
    assert can(alice, Action.MANAGE_TEAM, team_id=team.id)  # the cached memberships were refreshed


def test_only_an_owner_renames_the_team(alice, bob):
    team = make_team(alice, bob=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        services.team_rename(actor=bob, team=team, name="Bob's")
    services.team_rename(actor=alice, team=team, name="Atelier")
    team.refresh_from_db()
    assert team.name == "Atelier"


# --- inviting ---


def test_owner_invites_by_username_with_a_link_valid_for_seven_days(alice, bob):
    team = make_team(alice)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.ADMIN)
    assert (invitation.invitee, invitation.role, invitation.invited_by) == ("bob", Role.ADMIN, alice)
    assert len(invitation.token) >= 32
    lifetime = invitation.expires_at - timezone.now()
    assert timedelta(days=6, hours=23) < lifetime <= timedelta(days=7)


def test_inviting_an_unknown_username_stores_an_invitation_like_any_other(alice):
    team = make_team(alice)  # refusing would tell the inviter which usernames exist
    invitation = services.invitation_create(team=team, inviter=alice, invitee="nobody", role=Role.MEMBER)
    assert Invitation.objects.get() == invitation and invitation.invitee == "nobody"


def test_inviting_an_unknown_email_is_allowed_and_normalised(alice):
    team = make_team(alice)
    invitation = services.invitation_create(
        team=team, inviter=alice, invitee=" New@Example.COM ", role="viewer"
    )
    assert invitation.invitee == "new@example.com"


def test_inviting_an_existing_member_by_username_is_refused(alice, bob):
    team = make_team(alice, bob=Role.VIEWER)
    for invitee in ("bob", "alice"):
        with pytest.raises(TeamRuleError, match="already a member"):
            services.invitation_create(team=team, inviter=alice, invitee=invitee, role=Role.MEMBER)
    assert not Invitation.objects.exists()


def test_inviting_a_members_email_does_not_confirm_the_address(alice, bob):
    bob.email = "bob@example.com"
    bob.save()
    team = make_team(alice, bob=Role.VIEWER)  # the team page never shows members' addresses
    invitation = services.invitation_create(
        team=team, inviter=alice, invitee="BOB@example.com", role="member"
    )
    assert "already a member" in services.invitation_refusal(invitation=invitation, user=bob)


def test_a_second_pending_invitation_for_the_same_person_is_refused(alice, bob):
    team = make_team(alice)
    first = services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.MEMBER)
    with pytest.raises(TeamRuleError, match="pending invitation"):
        services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.ADMIN)
    services.invitation_revoke(actor=alice, invitation=first)
    services.invitation_create(
        team=team, inviter=alice, invitee="bob", role=Role.ADMIN
    )  # fine after revoking


def test_only_an_owner_may_invite_an_owner(alice, bob, carol):
    team = make_team(alice, bob=Role.ADMIN)
    with pytest.raises(TeamRuleError, match="Only an owner"):
        services.invitation_create(team=team, inviter=bob, invitee="carol", role=Role.OWNER)
    assert services.invitation_create(team=team, inviter=bob, invitee="carol", role=Role.ADMIN)
    assert services.invitation_create(team=team, inviter=alice, invitee="c@example.com", role=Role.OWNER)


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_cannot_invite(alice, bob, carol, role):
    team = make_team(alice, bob=role)
    with pytest.raises(PermissionDenied):
        services.invitation_create(team=team, inviter=bob, invitee="carol", role=Role.VIEWER)


def test_outsiders_cannot_invite(alice, bob, carol):
    team = make_team(alice)
    with pytest.raises(PermissionDenied):
        services.invitation_create(team=team, inviter=bob, invitee="carol", role=Role.VIEWER)


def test_the_invitation_email_carries_the_link(alice, bob, mailoutbox):
    bob.email = "bob@example.com"
    bob.save()
    team = make_team(alice, name="Studio")
    invitation = services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.MEMBER)
    link = f"http://testserver/teams/join/{invitation.token}/"
    assert services.invitation_email(invitation=invitation, join_url=link) is True
    (mail,) = mailoutbox
    assert mail.to == ["bob@example.com"]
    assert "Studio" in mail.subject and "alice" in mail.subject
    assert link in mail.body and "as member" in mail.body


def test_an_invitation_by_email_is_mailed_to_that_address(alice, mailoutbox):
    team = make_team(alice)
    invitation = services.invitation_create(
        team=team, inviter=alice, invitee="eve@example.com", role="viewer"
    )
    assert services.invitation_email(invitation=invitation, join_url="http://x/j/") is True
    assert mailoutbox[0].to == ["eve@example.com"]


def test_no_email_for_a_user_without_an_address(alice, bob, mailoutbox):
    team = make_team(alice)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.MEMBER)
    assert services.invitation_email(invitation=invitation, join_url="http://x/j/") is False
    assert mailoutbox == []


def test_a_mail_failure_keeps_the_invitation(alice, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionRefusedError("no SMTP server")

    monkeypatch.setattr(services, "send_mail", broken)
    team = make_team(alice)
    invitation = services.invitation_create(
        team=team, inviter=alice, invitee="eve@example.com", role="viewer"
    )
    assert services.invitation_email(invitation=invitation, join_url="http://x/j/") is False
    assert Invitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).exists()


# --- accepting ---


def test_accepting_adds_the_member_with_the_invited_role_and_uses_up_the_link(alice, bob):
    team = make_team(alice)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.VIEWER)
    assert services.invitation_refusal(invitation=invitation, user=bob) is None
    membership = services.invitation_accept(invitation=invitation, user=bob)
    assert (membership.team, membership.user, membership.role) == (team, bob, Role.VIEWER)
    invitation.refresh_from_db()
    assert invitation.accepted_by == bob and invitation.accepted_at is not None
    assert can(bob, Action.VIEW, team_id=team.id) and not can(bob, Action.GENERATE, team_id=team.id)
    with pytest.raises(TeamRuleError, match="already accepted"):
        services.invitation_accept(invitation=invitation, user=bob)


def test_a_used_link_does_nothing_for_anyone_else(alice, bob, carol):
    team = make_team(alice)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="c@example.com", role="member")
    carol.email = "c@example.com"
    carol.save()
    services.invitation_accept(invitation=invitation, user=carol)
    bob.email = "c@example.com"  # even someone with the same address
    bob.save()
    with pytest.raises(TeamRuleError, match="already been used"):
        services.invitation_accept(invitation=invitation, user=bob)
    assert role_of(bob, team) is None


def test_an_expired_link_does_nothing(alice, bob):
    team = make_team(alice)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.MEMBER)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    invitation.refresh_from_db()
    with pytest.raises(TeamRuleError, match="expired"):
        services.invitation_accept(invitation=invitation, user=bob)
    assert role_of(bob, team) is None and Invitation.objects.get().accepted_at is None


def test_a_revoked_link_does_nothing(alice, bob):
    team = make_team(alice)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.MEMBER)
    services.invitation_revoke(actor=alice, invitation=invitation)
    with pytest.raises(TeamRuleError, match="withdrawn"):
        services.invitation_accept(invitation=invitation, user=bob)
    assert role_of(bob, team) is None


def test_only_the_named_user_may_accept(alice, bob, carol):
    team = make_team(alice)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.MEMBER)
    with pytest.raises(TeamRuleError, match="for someone else"):
        services.invitation_accept(invitation=invitation, user=carol)
    assert role_of(carol, team) is None
    assert Invitation.objects.get().accepted_at is None  # still valid for bob
    services.invitation_accept(invitation=invitation, user=bob)


def test_an_email_invitation_is_for_the_user_with_that_address(alice, bob, carol):
    team = make_team(alice)
    invitation = services.invitation_create(
        team=team, inviter=alice, invitee="bob@example.com", role="member"
    )
    with pytest.raises(TeamRuleError, match="for someone else"):
        services.invitation_accept(invitation=invitation, user=carol)  # carol has no e-mail at all
    bob.email = "Bob@Example.com"
    bob.save()
    services.invitation_accept(invitation=invitation, user=bob)
    assert role_of(bob, team) == Role.MEMBER


def test_a_member_cannot_accept_a_second_time_through_another_invitation(alice, bob):
    bob.email = "bob@example.com"
    bob.save()
    team = make_team(alice)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="bob@example.com", role="admin")
    Membership.objects.create(team=team, user=bob, role=Role.VIEWER)  # joined meanwhile
    with pytest.raises(TeamRuleError, match="already a member"):
        services.invitation_accept(invitation=invitation, user=bob)
    assert role_of(bob, team) == Role.VIEWER


# --- revoking ---


def test_admins_revoke_pending_invitations_once(alice, bob):
    team = make_team(alice, bob=Role.ADMIN)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="x@example.com", role="member")
    services.invitation_revoke(actor=bob, invitation=invitation)
    assert Invitation.objects.get().revoked_at is not None
    with pytest.raises(TeamRuleError, match="already used, declined or withdrawn"):
        services.invitation_revoke(actor=bob, invitation=invitation)


def test_an_admin_cannot_revoke_an_owner_invitation_and_a_member_none(alice, bob, carol):
    team = make_team(alice, bob=Role.ADMIN, carol=Role.MEMBER)
    owner_invitation = services.invitation_create(
        team=team, inviter=alice, invitee="o@example.com", role="owner"
    )
    with pytest.raises(TeamRuleError, match="Only an owner"):
        services.invitation_revoke(actor=bob, invitation=owner_invitation)
    with pytest.raises(PermissionDenied):
        services.invitation_revoke(actor=carol, invitation=owner_invitation)
    assert Invitation.objects.get().revoked_at is None


# --- roles ---


def test_an_admin_changes_roles_below_owner(alice, bob, carol):
    team = make_team(alice, bob=Role.ADMIN, carol=Role.VIEWER)
    services.membership_set_role(actor=bob, membership=team.memberships.get(user=carol), role=Role.ADMIN)
    assert role_of(carol, team) == Role.ADMIN
    services.membership_set_role(actor=bob, membership=team.memberships.get(user=carol), role=Role.MEMBER)
    assert role_of(carol, team) == Role.MEMBER


def test_an_admin_cannot_make_an_owner_nor_change_one(alice, bob, carol):
    team = make_team(alice, bob=Role.ADMIN, carol=Role.MEMBER)
    with pytest.raises(TeamRuleError, match="Only an owner"):
        services.membership_set_role(actor=bob, membership=team.memberships.get(user=carol), role=Role.OWNER)
    with pytest.raises(TeamRuleError, match="Only an owner"):
        services.membership_set_role(actor=bob, membership=team.memberships.get(user=alice), role=Role.ADMIN)
    with pytest.raises(TeamRuleError, match="Only an owner"):
        services.membership_set_role(actor=bob, membership=team.memberships.get(user=bob), role=Role.OWNER)
    assert (role_of(alice, team), role_of(bob, team), role_of(carol, team)) == ("owner", "admin", "member")


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_cannot_change_roles(alice, bob, carol, role):
    team = make_team(alice, bob=role, carol=Role.VIEWER)
    with pytest.raises(PermissionDenied):
        services.membership_set_role(actor=bob, membership=team.memberships.get(user=carol), role=Role.MEMBER)
    with pytest.raises(PermissionDenied):
        services.membership_set_role(actor=bob, membership=team.memberships.get(user=bob), role=Role.ADMIN)


def test_the_last_owner_cannot_step_down_but_can_after_making_another_owner(alice, bob):
    team = make_team(alice, bob=Role.ADMIN)
    alice_membership = team.memberships.get(user=alice)
    with pytest.raises(TeamRuleError, match="needs an owner"):
        services.membership_set_role(actor=alice, membership=alice_membership, role=Role.ADMIN)
    services.membership_set_role(actor=alice, membership=team.memberships.get(user=bob), role=Role.OWNER)
    services.membership_set_role(actor=alice, membership=alice_membership, role=Role.ADMIN)
    assert (role_of(alice, team), role_of(bob, team)) == ("admin", "owner")
    assert not can(alice, Action.MANAGE_TEAM, team_id=team.id)  # her cached role was refreshed


def test_an_owner_demotes_another_owner(alice, bob):
    team = make_team(alice, bob=Role.OWNER)
    services.membership_set_role(actor=alice, membership=team.memberships.get(user=bob), role=Role.VIEWER)
    assert role_of(bob, team) == Role.VIEWER


def test_an_unknown_role_is_refused(alice, bob):
    team = make_team(alice, bob=Role.MEMBER)
    with pytest.raises(TeamRuleError):
        services.membership_set_role(actor=alice, membership=team.memberships.get(user=bob), role="emperor")


# --- removing and leaving ---


def test_an_admin_removes_members_and_admins_but_not_owners(alice, bob, carol, dave):
    team = make_team(alice, bob=Role.ADMIN, carol=Role.MEMBER, dave=Role.ADMIN)
    services.membership_remove(actor=bob, membership=team.memberships.get(user=carol))
    services.membership_remove(actor=bob, membership=team.memberships.get(user=dave))
    with pytest.raises(TeamRuleError, match="Only an owner"):
        services.membership_remove(actor=bob, membership=team.memberships.get(user=alice))
    assert set(team.memberships.values_list("user__username", flat=True)) == {"alice", "bob"}


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_cannot_remove_others_but_may_leave(alice, bob, carol, role):
    team = make_team(alice, bob=role, carol=Role.VIEWER)
    with pytest.raises(PermissionDenied):
        services.membership_remove(actor=bob, membership=team.memberships.get(user=carol))
    services.membership_remove(actor=bob, membership=team.memberships.get(user=bob))
    assert role_of(bob, team) is None and role_of(carol, team) == Role.VIEWER
    assert not can(bob, Action.VIEW, team_id=team.id)


def test_the_last_owner_cannot_leave_but_one_of_two_owners_can(alice, bob):
    team = make_team(alice, bob=Role.MEMBER)
    with pytest.raises(TeamRuleError, match=r"only owner of Studio.*transfer ownership.*or delete the team"):
        services.membership_remove(actor=alice, membership=team.memberships.get(user=alice))
    services.membership_set_role(actor=alice, membership=team.memberships.get(user=bob), role=Role.OWNER)
    services.membership_remove(actor=alice, membership=team.memberships.get(user=alice))
    assert list(team.memberships.values_list("user__username", "role")) == [("bob", "owner")]


def test_an_owner_removes_another_owner(alice, bob):
    team = make_team(alice, bob=Role.OWNER)
    services.membership_remove(actor=alice, membership=team.memberships.get(user=bob))
    assert role_of(bob, team) is None


def test_removing_someone_already_gone_is_a_no_op(alice, bob):
    team = make_team(alice, bob=Role.MEMBER)
    membership = team.memberships.get(user=bob)
    services.membership_remove(actor=alice, membership=membership)
    services.membership_remove(actor=alice, membership=membership)
    assert role_of(bob, team) is None
