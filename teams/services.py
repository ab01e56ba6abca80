"""Writes: creating, renaming and deleting teams, inviting, joining, changing roles and removing members.

Every permission decision is made by ``teams.permissions``; lacking the right raises ``PermissionDenied``
(403), breaking a team rule (the last owner, an existing member, a used link) raises ``TeamRuleError`` whose
message is shown to the person. Changes to a team's members lock the team row, so two owners demoting each
other at once can never leave the team without an owner.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from pixelgallery.moments import absolute_text, exact_text
from teams import hooks
from teams.hooks import TeamDeletionSummary
from teams.models import Invitation, Membership, Role, Team
from teams.permissions import Action, can, can_grant, forget_memberships, grantable_roles

logger = logging.getLogger(__name__)

INVITATION_TTL = timedelta(days=7)
INVITATION_RATE_WINDOW = timedelta(hours=1)  # TEAM_INVITATIONS_PER_HOUR per inviter within it


class TeamRuleError(Exception):
    """The change breaks a team rule; the message says why, for the person who asked."""


class InvitationLimitError(TeamRuleError):
    """The inviter already sent as many invitations as allowed in the last hour."""


def _require(user, action: Action, *, team_id: int) -> None:
    if not can(user, action, team_id=team_id):
        raise PermissionDenied(f"You may not {action.value.replace('_', ' ')} in this team.")


def _lock_team(team_id: int) -> None:
    """Serialise membership changes of one team (call inside a transaction)."""
    Team.objects.select_for_update().filter(pk=team_id).values_list("pk").first()


def sole_owner_leaving_reason(team: Team) -> str:
    """What the only owner of ``team`` must do before leaving it."""
    return (
        f"You are the only owner of {team.name}, so you cannot leave it yet: first transfer ownership "
        "to another member, or delete the team."
    )


def _keep_an_owner(*, team_id: int, losing: Membership) -> None:
    if not Membership.objects.filter(team_id=team_id, role=Role.OWNER).exclude(pk=losing.pk).exists():
        raise TeamRuleError("A team needs an owner: make someone else an owner first.")


class TeamNameTakenError(TeamRuleError):
    """The user already has a team by that name (ignoring case)."""


def _check_name_free(*, user, name: str, team_id: int | None = None) -> None:
    """Refuse a name one of ``user``'s other teams has, ignoring case (Unicode-aware, on any database).

    Call inside a transaction: the user's row is locked, so two requests of one user cannot both take it.
    """
    get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
    names = Team.objects.filter(memberships__user=user, deleted_at__isnull=True).exclude(pk=team_id)
    if any(other.casefold() == name.casefold() for other in names.values_list("name", flat=True)):
        raise TeamNameTakenError(f"You already have a team called “{name}”: choose another name.")


def team_create(*, user, name: str) -> Team:
    """A new team owned by ``user``; its name differs from the user's other teams' (ignoring case)."""
    with transaction.atomic():
        _check_name_free(user=user, name=name)
        team = Team.objects.create(name=name, created_by=user)
        Membership.objects.create(team=team, user=user, role=Role.OWNER)
    forget_memberships(user)
    logger.info("team %s created by user %s", team.code, user.pk)
    return team


def team_rename(*, actor, team: Team, name: str) -> Team:
    """Owners only; the new name differs from the actor's other teams' (ignoring case)."""
    _require(actor, Action.MANAGE_TEAM, team_id=team.id)
    with transaction.atomic():
        _check_name_free(user=actor, name=name, team_id=team.id)
        team.name = name
        team.save(update_fields=["name"])
    forget_memberships(actor)
    return team


def team_deletion_refusal(summary: TeamDeletionSummary) -> str | None:
    """Why the team cannot be deleted now (work PixelDojo may still charge for), or ``None``."""
    if not summary.work_in_flight:
        return None
    n = summary.work_in_flight
    return (
        f"{n} generation{'s are' if n != 1 else ' is'} still queued, running or saving in this team. "
        "Deleting now could lose images that are already paid for: wait until they finish, then delete."
    )


def team_delete(*, actor, team: Team, confirm: str) -> TeamDeletionSummary:
    """Delete a team (owners only; ``confirm`` must be its name), as its confirmation page says.

    Its images (with their files) and collections are deleted, its budgets dropped, its invitations and
    memberships removed; the row stays with ``deleted_at`` set because the credits ledger, which is never
    deleted, refers to it. Refused while generations are in flight. Returns what was done.
    """
    forget_memberships(actor)
    _require(actor, Action.MANAGE_TEAM, team_id=team.id)
    if " ".join(confirm.split()) != team.name:
        raise TeamRuleError(f"Type the team's name, {team.name}, exactly as shown to delete it.")
    with transaction.atomic():
        _lock_team(team.id)
        team = Team.objects.get(pk=team.pk)
        forget_memberships(actor)  # decide on the roles held now that the team is locked
        _require(actor, Action.MANAGE_TEAM, team_id=team.id)
        summary = hooks.deletion_summary(team_id=team.id)
        refusal = team_deletion_refusal(summary)
        if refusal:
            raise TeamRuleError(refusal)
        hooks.deletion_purge(team_id=team.id, actor=actor)
        Invitation.objects.filter(team=team).delete()
        Membership.objects.filter(team=team).delete()
        team.deleted_at = timezone.now()
        team.save(update_fields=["deleted_at"])
    forget_memberships(actor)
    logger.info("team %s deleted by user %s: %s", team.code, actor.pk, summary)
    return summary


def team_transfer_ownership(*, actor, team: Team, membership: Membership) -> Membership:
    """An owner makes another member owner and becomes admin, in one step; returns the new owner's row."""
    with transaction.atomic():
        _lock_team(team.id)
        forget_memberships(actor)
        _require(actor, Action.MANAGE_TEAM, team_id=team.id)
        target = Membership.objects.select_for_update().filter(pk=membership.pk, team=team).first()
        if target is None:
            raise TeamRuleError("They are no longer a member of this team.")
        if target.user_id == actor.pk:
            raise TeamRuleError("Choose another member to hand the team over to.")
        mine = Membership.objects.select_for_update().get(team=team, user=actor)
        target.role = Role.OWNER
        target.save(update_fields=["role"])
        mine.role = Role.ADMIN
        mine.save(update_fields=["role"])
        _revoke_ungrantable_invitations(membership=mine, role=Role.ADMIN)
    forget_memberships(actor)
    logger.info("user %s handed team %s over to user %s", actor.pk, team.code, target.user_id)
    return target


def invitation_create(*, team: Team, inviter, invitee: str, role: str) -> Invitation:
    """A pending invitation for a username or an e-mail address, valid for ``INVITATION_TTL``.

    Whether a user by that name exists changes nothing here (a row is stored for any name, so the inviter
    learns nothing about other people). Each inviter may create at most ``settings.TEAM_INVITATIONS_PER_HOUR``
    invitations an hour, counted in the database; more raise ``InvitationLimitError``.
    """
    forget_memberships(inviter)  # decide on fresh roles
    _require(inviter, Action.MANAGE_MEMBERS, team_id=team.id)
    if not can_grant(inviter, role, team_id=team.id):
        raise TeamRuleError("Only an owner can invite someone as an owner.")
    invitee = invitee.strip()
    is_email = "@" in invitee
    if is_email:  # members' addresses are not shown to the team, so no "already a member" for them here.
        invitee = invitee.lower()
    now = timezone.now()
    with transaction.atomic():
        # One inviter's invitations are counted one request at a time (the lock is taken before the team's).
        get_user_model().objects.select_for_update().filter(pk=inviter.pk).values_list("pk").first()
        _check_invitation_rate(inviter=inviter, now=now)
        _lock_team(team.id)
        if not is_email and team.memberships.filter(user__username=invitee).exists():
            raise TeamRuleError(f"{invitee} is already a member of {team.name}.")
        pending = team.invitations.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, declined_at__isnull=True, expires_at__gt=now
        )
        if pending.filter(**{"invitee__iexact" if is_email else "invitee": invitee}).exists():
            raise TeamRuleError(f"{invitee} already has a pending invitation; revoke it to send a new one.")
        invitation = Invitation.objects.create(
            team=team, invitee=invitee, role=role, invited_by=inviter, expires_at=now + INVITATION_TTL
        )
    logger.info("invitation %s to team %s created by user %s", invitation.pk, team.code, inviter.pk)
    return invitation


def _check_invitation_rate(*, inviter, now) -> None:
    """Refuse when ``inviter`` created ``TEAM_INVITATIONS_PER_HOUR`` invitations (any team, any state) in the
    last hour; the message says when the next one is allowed."""
    limit = max(settings.TEAM_INVITATIONS_PER_HOUR, 0)
    recent = Invitation.objects.filter(invited_by=inviter, created_at__gt=now - INVITATION_RATE_WINDOW)
    count = recent.count()
    if count < limit:
        return
    if limit == 0:
        raise InvitationLimitError("Sending invitations is switched off on this site.")
    # The next one is allowed once enough of the recent ones are more than an hour old.
    freed_at = recent.order_by("created_at").values_list("created_at", flat=True)[count - limit]
    logger.warning("user %s reached the invitation limit (%s an hour)", inviter.pk, limit)
    raise InvitationLimitError(
        f"You have sent {limit} invitations in the last hour, the most allowed. "
        f"You can invite again at {absolute_text(freed_at + INVITATION_RATE_WINDOW)}."
    )


def invitation_email(*, invitation: Invitation, join_url: str) -> bool:
    """E-mail the join link to the address named, or to the invited user's address if they have one.

    True if the mail was handed to the mail backend. Never tell the inviter where it went (or whether it went,
    for an invitation by username): that would reveal who has an account and their address.
    """
    if "@" in invitation.invitee:
        address = invitation.invitee
    else:
        users = get_user_model().objects.filter(username=invitation.invitee)
        address = users.values_list("email", flat=True).first() or ""
    inviter = invitation.invited_by.get_username()
    team = " ".join(invitation.team.name.split())
    expires = exact_text(invitation.expires_at)  # the site's one format, with the time zone
    body = (
        f"{inviter} invited you to join the team “{team}” on PixelGallery "
        f"as {Role(invitation.role).label.lower()}.\n\n"
        f"Open this link to accept (it works once, until {expires}):\n{join_url}\n\n"
        "If you did not expect this invitation, ignore this e-mail.\n"
    )
    if not address:
        return False
    try:
        send_mail(f"{inviter} invited you to {team} on PixelGallery", body, None, [address])
    except OSError:  # SMTP and network errors: the link is still shown to the inviter to pass on.
        logger.exception("could not e-mail invitation %s", invitation.pk)
        return False
    return True


def invitation_is_for(invitation: Invitation, user) -> bool:
    """The invitation names this user: their username, or their e-mail address."""
    if "@" in invitation.invitee:
        return bool(user.email) and user.email.strip().lower() == invitation.invitee.lower()
    return user.get_username() == invitation.invitee


def invitation_refusal(*, invitation: Invitation, user) -> str | None:
    """Why ``user`` cannot accept this invitation now, or ``None`` if they can."""
    if invitation.revoked_at is not None:
        return "This invitation was withdrawn. Ask the team for a new one."
    if invitation.declined_at is not None:
        return "This invitation was declined. Ask the team for a new one."
    if invitation.accepted_at is not None:
        if invitation.accepted_by_id == user.pk:
            return "You have already accepted this invitation."
        return "This invitation has already been used: each link works once. Ask the team for a new one."
    if invitation.expires_at <= timezone.now():
        expired = timezone.localtime(invitation.expires_at)
        return f"This invitation expired on {expired:%d %b %Y at %H:%M}. Ask the team for a new one."
    forget_memberships(invitation.invited_by)  # decide on the inviter's roles now
    if not can_grant(invitation.invited_by, invitation.role, team_id=invitation.team_id):
        return (
            "This invitation is no longer valid: the person who sent it may no longer invite people as "
            f"{Role(invitation.role).label.lower()}. Ask the team for a new one."
        )
    if not invitation_is_for(invitation, user):
        return (
            "This invitation is for someone else. Log in as the person it was sent to, "
            "or ask the team to invite you."
        )
    if Membership.objects.filter(team_id=invitation.team_id, user=user).exists():
        return f"You are already a member of {invitation.team.name}."
    return None


def _locked_invitation(invitation: Invitation) -> Invitation:
    """The invitation's row, locked; gone (its team was deleted meanwhile) is a rule, not a crash."""
    locked = Invitation.objects.select_for_update().select_related("team").filter(pk=invitation.pk).first()
    if locked is None:
        raise TeamRuleError("This invitation no longer exists: the team was deleted.")
    return locked


def invitation_accept(*, invitation: Invitation, user) -> Membership:
    """Join the team with the invitation's role; the link is used up."""
    with transaction.atomic():
        _lock_team(invitation.team_id)
        invitation = _locked_invitation(invitation)
        refusal = invitation_refusal(invitation=invitation, user=user)
        if refusal:
            raise TeamRuleError(refusal)
        membership = Membership.objects.create(team=invitation.team, user=user, role=invitation.role)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    forget_memberships(user)
    logger.info("invitation %s accepted by user %s", invitation.pk, user.pk)
    return membership


def invitation_decline(*, invitation: Invitation, user) -> None:
    """The invitee says no: the invitation leaves their list and the team's pending list, and its link stops
    working (the team may invite them again)."""
    with transaction.atomic():
        invitation = _locked_invitation(invitation)
        if not invitation_is_for(invitation, user):
            raise TeamRuleError("This invitation is for someone else: only they can decline it.")
        if invitation.declined_at is not None:
            return  # declining twice is a no-op
        if invitation.accepted_at is not None or invitation.revoked_at is not None:
            raise TeamRuleError("This invitation is no longer pending: there is nothing to decline.")
        invitation.declined_at = timezone.now()
        invitation.save(update_fields=["declined_at"])
    logger.info("invitation %s declined by user %s", invitation.pk, user.pk)


def invitation_revoke(*, actor, invitation: Invitation) -> None:
    forget_memberships(actor)
    _require(actor, Action.MANAGE_MEMBERS, team_id=invitation.team_id)
    if invitation.role == Role.OWNER and not can(actor, Action.MANAGE_TEAM, team_id=invitation.team_id):
        raise TeamRuleError("Only an owner can withdraw an invitation to become an owner.")
    revoked = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True, declined_at__isnull=True
    ).update(revoked_at=timezone.now())
    if not revoked:
        raise TeamRuleError("This invitation was already used, declined or withdrawn.")


def _revoke_ungrantable_invitations(*, membership: Membership, role: str | None) -> None:
    """Withdraw the pending invitations this member sent that ``role`` (their role now; ``None``: they left)
    may not give: an invitation never carries more than its sender may still grant."""
    revoked = (
        Invitation.objects.filter(
            team_id=membership.team_id,
            invited_by_id=membership.user_id,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            declined_at__isnull=True,
        )
        .exclude(role__in=grantable_roles(role))
        .update(revoked_at=timezone.now())
    )
    if revoked:
        logger.info(
            "withdrew %s invitations by user %s in team %s", revoked, membership.user_id, membership.team_id
        )


def membership_set_role(*, actor, membership: Membership, role: str) -> Membership:
    """Give a member another role: admins manage admins, members and viewers; only owners touch owners."""
    if role not in Role.values:
        raise TeamRuleError("Choose one of the listed roles.")
    forget_memberships(actor)
    with transaction.atomic():
        _lock_team(membership.team_id)
        target = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if target is None:
            raise TeamRuleError("They are no longer a member of this team.")
        _require(actor, Action.MANAGE_MEMBERS, team_id=target.team_id)
        if Role.OWNER in (target.role, role) and not can(actor, Action.MANAGE_TEAM, team_id=target.team_id):
            raise TeamRuleError("Only an owner can change an owner's role or make someone an owner.")
        if target.role == Role.OWNER and role != Role.OWNER:
            _keep_an_owner(team_id=target.team_id, losing=target)
        target.role = role
        target.save(update_fields=["role"])
        _revoke_ungrantable_invitations(membership=target, role=role)
    forget_memberships(actor)
    return target


def membership_remove(*, actor, membership: Membership) -> None:
    """Remove a member (admins and owners), or leave the team (anyone); a team always keeps an owner."""
    forget_memberships(actor)
    with transaction.atomic():
        _lock_team(membership.team_id)
        target = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if target is None:
            return  # already gone: removing twice is a no-op.
        if target.user_id != actor.pk:
            _require(actor, Action.MANAGE_MEMBERS, team_id=target.team_id)
            if target.role == Role.OWNER and not can(actor, Action.MANAGE_TEAM, team_id=target.team_id):
                raise TeamRuleError("Only an owner can remove an owner.")
        if target.role == Role.OWNER:
            if target.user_id == actor.pk and not (
                Membership.objects.filter(team_id=target.team_id, role=Role.OWNER)
                .exclude(pk=target.pk)
                .exists()
            ):
                raise TeamRuleError(sole_owner_leaving_reason(target.team))
            _keep_an_owner(team_id=target.team_id, losing=target)
        target.delete()
        _revoke_ungrantable_invitations(membership=target, role=None)
    forget_memberships(actor)
    logger.info("user %s left team %s (removed by user %s)", target.user_id, target.team_id, actor.pk)
