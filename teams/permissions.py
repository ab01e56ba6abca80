"""The one place that decides who may do what with teams, generations and images.

Personal work (no team) belongs to its author alone. Team work is visible to every member; what a member may
do depends on the role: viewers browse and download, members also generate and curate, admins also manage
members, budgets and anyone's images, owners also manage the team itself.
"""

from __future__ import annotations

from enum import Enum

from django.db.models import Q

from teams.models import ROLE_RANK, Membership, Role


class Action(Enum):
    VIEW = "view"  # see, download, favourite
    GENERATE = "generate"  # submit prompts in the team
    CURATE = "curate"  # collections and tags
    DELETE_ANY = "delete_any"  # delete other people's images
    MANAGE_MEMBERS = "manage_members"  # invite, change roles, remove, set budgets
    MANAGE_WEBHOOKS = "manage_webhooks"  # register webhook endpoints, read their log, re-send
    SHARE = "share"  # make public share links of images and collections (that expire)
    SHARE_FOREVER = "share_forever"  # make share links that never expire
    MANAGE_SHARES = "manage_shares"  # see and revoke every share link of the team
    MANAGE_TEAM = "manage_team"  # rename, delete, make owners


MINIMUM_ROLE = {
    Action.VIEW: Role.VIEWER,
    Action.GENERATE: Role.MEMBER,
    Action.CURATE: Role.MEMBER,
    Action.DELETE_ANY: Role.ADMIN,
    Action.MANAGE_MEMBERS: Role.ADMIN,
    Action.MANAGE_WEBHOOKS: Role.ADMIN,
    Action.SHARE: Role.MEMBER,
    Action.SHARE_FOREVER: Role.ADMIN,
    Action.MANAGE_SHARES: Role.ADMIN,
    Action.MANAGE_TEAM: Role.OWNER,
}

_CACHE_ATTR = "_pixelgallery_memberships"


def memberships_of(user) -> dict[int, Membership]:
    """The user's memberships by team id, with teams; loaded once per user object (one query).

    A deleted team has no members left; its rows are skipped here too, so it never grants a role.
    """
    if not getattr(user, "is_authenticated", False):
        return {}
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        memberships = Membership.objects.filter(user=user, team__deleted_at__isnull=True).select_related(
            "team"
        )
        cached = {m.team_id: m for m in memberships}
        setattr(user, _CACHE_ATTR, cached)
    return cached


def forget_memberships(user) -> None:
    """Drop the cached memberships after they change."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def role_in(user, team_id: int | None) -> str | None:
    membership = memberships_of(user).get(team_id) if team_id is not None else None
    return membership.role if membership else None


def role_allows(role: str | None, action: Action) -> bool:
    """May a member with ``role`` (``None``: not a member) do ``action`` in their team?"""
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[MINIMUM_ROLE[action]]


def grantable_roles(role: str | None) -> list[Role]:
    """The roles a member with ``role`` may give (invite with, or change a member to), highest first."""
    roles = [Role.OWNER] if role_allows(role, Action.MANAGE_TEAM) else []
    if role_allows(role, Action.MANAGE_MEMBERS):
        roles += [Role.ADMIN, Role.MEMBER, Role.VIEWER]
    return roles


def can(user, action: Action, *, team_id: int | None, author_id: int | None = None) -> bool:
    """May ``user`` do ``action`` in this team (``None``: personal space) on work by ``author_id``?"""
    if not getattr(user, "is_authenticated", False):
        return False
    if team_id is None:  # personal work: the author may do everything with it, nobody else anything.
        return author_id is None or author_id == user.id
    return role_allows(role_in(user, team_id), action)


def can_grant(user, role: str, *, team_id: int) -> bool:
    """May ``user`` give ``role`` in this team now (invite someone with it, or change a member to it)?"""
    return role in grantable_roles(role_in(user, team_id))


def can_delete(user, *, team_id: int | None, author_id: int) -> bool:
    """The author (still a member, or personal work) or a team admin/owner."""
    if team_id is None:
        return author_id == user.id
    role = role_in(user, team_id)
    if role is None:
        return False
    return author_id == user.id or ROLE_RANK[role] >= ROLE_RANK[Role.ADMIN]


def can_revoke_share(user, *, team_id: int | None, creator_id: int) -> bool:
    """Its creator (still a member, or personal work), or any admin/owner of the link's team."""
    if not getattr(user, "is_authenticated", False):
        return False
    if team_id is None:
        return creator_id == user.id
    role = role_in(user, team_id)
    return role is not None and (creator_id == user.id or role_allows(role, Action.MANAGE_SHARES))


def role_refusal(user, action: Action, *, team) -> str | None:
    """Why ``user`` may not do ``action`` in ``team`` (``None``: personal space), as a page says it; ``None``
    when they may. For team-wide actions (generate, curate, manage), not per-image deletion (``can_delete``).
    """
    if team is None or can(user, action, team_id=team.id):
        return None
    role = role_in(user, team.id)
    if role is None:
        return f"You are not a member of {team.name}."
    label = Role(role).label.lower()
    you_are = f"You are {'an' if label[0] in 'aeiou' else 'a'} {label} in {team.name}"
    if action is Action.GENERATE:
        return (
            f"{you_are}: viewers cannot generate there. Ask an admin of {team.name} to make you a member, "
            "or switch to Personal to generate on your own."
        )
    if action is Action.CURATE:
        return f"{you_are}: viewers browse its collections and tags; members and admins change them."
    if action is Action.SHARE:
        return f"{you_are}: viewers cannot share its images outside the team; members and admins can."
    if action is Action.SHARE_FOREVER:
        return f"{you_are}: only its admins and owners can make a share link that never expires."
    if MINIMUM_ROLE[action] == Role.OWNER:
        return f"{you_are}: only its owners can do that."
    return f"{you_are}: only its admins and owners can do that."


def visible_q(user, *, user_field: str = "user", team_field: str = "team") -> Q:
    """A filter for rows the user may see: their personal work plus everything in their teams."""
    if not getattr(user, "is_authenticated", False):
        return Q(pk__in=[])
    return Q(**{f"{team_field}__isnull": True, f"{user_field}_id": user.id}) | Q(
        **{f"{team_field}_id__in": list(memberships_of(user))}
    )


def team_scope_q(user, *, team_id: int, team_field: str = "team") -> Q:
    """A filter for one team's rows, for a user who may see them: the single equality ``team_id = X``.

    Once membership is checked here, nothing else is needed: the planner estimates one equality from the
    column's statistics, whereas ``visible_q`` and-ed with the team multiplies two guesses (and
    underestimates a big team). Nothing for anyone else.
    """
    if not can(user, Action.VIEW, team_id=team_id):
        return Q(pk__in=[])
    return Q(**{f"{team_field}_id": team_id})


def own_work_q(user, *, user_field: str = "user", team_field: str = "team") -> Q:
    """A filter for the user's own rows that they may still see: personal ones and those in their teams
    (``user_id = U`` first, the index's column; not their work in teams they have left)."""
    if not getattr(user, "is_authenticated", False):
        return Q(pk__in=[])
    return Q(**{f"{user_field}_id": user.id}) & (
        Q(**{f"{team_field}__isnull": True}) | Q(**{f"{team_field}_id__in": list(memberships_of(user))})
    )
