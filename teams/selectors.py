"""Reads: teams, members and invitations, always loaded for the person asking (404 for outsiders)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone

from teams import hooks
from teams.hooks import TeamDeletionSummary
from teams.models import ROLE_RANK, Invitation, Membership, Role, Team
from teams.permissions import Action, can, can_grant, grantable_roles, memberships_of, role_in


@dataclass(frozen=True)
class TeamRow:
    team: Team
    role: Role
    member_count: int
    label: str  # as the switcher names it


@dataclass(frozen=True)
class TeamChoice:
    """One of the user's teams as the switcher and team list name it."""

    team: Team
    label: str  # the name, with its owners when another of the user's teams has the same name


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    can_change: bool  # the viewer may change this member's role or remove them
    roles: list[Role]  # the roles the viewer may give this member


def teams_for_user(*, user) -> list[TeamRow]:
    """The user's teams as the switcher orders and names them, with their role and member count (two
    queries, three when names clash)."""
    memberships = memberships_of(user)
    teams = Team.objects.filter(id__in=list(memberships)).annotate(member_count=Count("memberships"))
    counts = {team.id: team.member_count for team in teams}
    return [
        TeamRow(
            choice.team, Role(memberships[choice.team.id].role), counts.get(choice.team.id, 0), choice.label
        )
        for choice in team_choices(user=user)
    ]


def team_choices(*, user) -> list[TeamChoice]:
    """The user's teams by name, labelled so that no two read the same: teams sharing a name (ignoring
    case; possible when they have different owners) say whose they are, "Design · owned by alice", and
    a short code if even that clashes. No query beyond the cached memberships unless two names clash."""
    teams = sorted((m.team for m in memberships_of(user).values()), key=lambda t: (t.name.casefold(), t.pk))
    by_name: dict[str, list[int]] = {}
    for team in teams:
        by_name.setdefault(team.name.casefold(), []).append(team.id)
    clashing = [team_id for ids in by_name.values() if len(ids) > 1 for team_id in ids]
    owners: dict[int, list[str]] = {team_id: [] for team_id in clashing}
    if clashing:
        rows = Membership.objects.filter(team_id__in=clashing, role=Role.OWNER).order_by("user__username")
        for team_id, user_id, username in rows.values_list("team_id", "user_id", "user__username"):
            owners[team_id].append("you" if user_id == user.pk else username)
    labels = {
        team.id: f"{team.name} · owned by {', '.join(owners[team.id])}" if team.id in owners else team.name
        for team in teams
    }
    seen = Counter(label.casefold() for label in labels.values())
    return [
        TeamChoice(team, f"{label} · {team.code.hex[:6]}" if seen[label.casefold()] > 1 else label)
        for team, label in ((team, labels[team.id]) for team in teams)
    ]


def find_membership(*, user, code: uuid.UUID | str) -> Membership | None:
    """The user's membership (with its team) in the team with this code, from the cached memberships."""
    try:
        code = code if isinstance(code, uuid.UUID) else uuid.UUID(str(code))
    except ValueError:
        return None
    return next((m for m in memberships_of(user).values() if m.team.code == code), None)


def get_membership_for_user(*, user, code: uuid.UUID | str) -> Membership:
    """Like ``find_membership``, but 404 for outsiders: a team page does not exist for them."""
    membership = find_membership(user=user, code=code)
    if membership is None:
        raise Http404("No such team.")
    return membership


def get_team_member(*, team: Team, username: str) -> Membership:
    """A member of this team by username; 404 for anyone else."""
    membership = team.memberships.select_related("user").filter(user__username=username).first()
    if membership is None:
        raise Http404("No such member.")
    return membership


def roles_grantable_by(*, user, team_id: int) -> list[Role]:
    """The roles ``user`` may give (invite with, or change a member to) in this team, highest first."""
    return grantable_roles(role_in(user, team_id))


def team_members(*, team: Team) -> QuerySet[Membership]:
    """Members, owners first, then by username."""
    rank = Case(
        *[When(role=role, then=Value(-rank)) for role, rank in ROLE_RANK.items()], output_field=IntegerField()
    )
    return team.memberships.select_related("user").order_by(rank, "user__username")


def member_rows(*, team: Team, viewer) -> list[MemberRow]:
    """The member list as ``viewer`` sees it: who they may manage and which roles they may hand out."""
    roles = roles_grantable_by(user=viewer, team_id=team.id)
    manages_owners = can(viewer, Action.MANAGE_TEAM, team_id=team.id)
    return [
        MemberRow(m, can_change=bool(roles) and (m.role != Role.OWNER or manages_owners), roles=roles)
        for m in team_members(team=team)
    ]


def owner_count(*, team: Team) -> int:
    return team.memberships.filter(role=Role.OWNER).count()


def pending_invitations(*, team: Team) -> QuerySet[Invitation]:
    """Invitations that can still be accepted, newest first."""
    return team.invitations.filter(
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        declined_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("invited_by")


def invitations_for_user(*, user) -> list[Invitation]:
    """Pending invitations naming ``user`` (username or e-mail) to teams they are not in, that they could
    accept now: the inviter may still give the role. Newest first."""
    names = Q(invitee=user.get_username()) & ~Q(invitee__contains="@")  # with an "@" it names an e-mail
    email = (user.email or "").strip().lower()
    if email:
        names |= Q(invitee__iexact=email)
    pending = (
        Invitation.objects.filter(names, accepted_at__isnull=True, revoked_at__isnull=True)
        .filter(declined_at__isnull=True, expires_at__gt=timezone.now(), team__deleted_at__isnull=True)
        .exclude(team_id__in=list(memberships_of(user)))
        .select_related("team", "invited_by")
    )
    return [
        invitation
        for invitation in pending
        if can_grant(invitation.invited_by, invitation.role, team_id=invitation.team_id)
    ]


def get_invitation(*, token: str) -> Invitation:
    """The invitation behind a join link, whatever its state; 404 for a token that never existed."""
    invitation = Invitation.objects.select_related("team", "invited_by").filter(token=token).first()
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def get_team_invitation(*, team: Team, token: str) -> Invitation:
    invitation = team.invitations.filter(token=token).first() if token else None
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def team_deletion_summary(*, team: Team) -> TeamDeletionSummary:
    """What deleting the team would delete and keep, and the work in flight that holds it back."""
    return hooks.deletion_summary(team_id=team.id)


def transfer_candidates(*, team: Team, user) -> list[Membership]:
    """The members ``user`` could hand the team over to: everyone else, owners first."""
    return [m for m in team_members(team=team) if m.user_id != user.pk]
