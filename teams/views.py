"""Team pages: my teams, one team's members and invitations, joining by link (or declining), handing a team
over, deleting it, and the team switcher."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pixelgallery.redirects import safe_next
from teams import selectors, services
from teams.active import SESSION_KEY, set_active_team
from teams.forms import InvitationForm, InviteForm, MemberForm, RoleForm, TeamDeleteForm, TeamForm
from teams.models import Membership, Role
from teams.permissions import Action, can, memberships_of


def _join_url(request: HttpRequest, invitation) -> str:
    return request.build_absolute_uri(reverse("teams:join", args=[invitation.token]))


def _team_page(request: HttpRequest, membership: Membership, *, status: int = 200, **forms) -> HttpResponse:
    """The team page as this member sees it; management controls only for those who may use them."""
    team, user = membership.team, request.user
    roles = selectors.roles_grantable_by(user=user, team_id=team.id)
    manages = can(user, Action.MANAGE_MEMBERS, team_id=team.id)
    invitations = list(selectors.pending_invitations(team=team)) if manages else []
    for invitation in invitations:
        invitation.link = _join_url(request, invitation)
    manages_team = can(user, Action.MANAGE_TEAM, team_id=team.id)
    is_last_owner = membership.role == Role.OWNER and selectors.owner_count(team=team) == 1
    context = {
        "team": team,
        "membership": membership,
        "rows": selectors.member_rows(team=team, viewer=user),
        "can_manage_members": manages,
        "can_manage_team": manages_team,
        "is_last_owner": is_last_owner,
        "leave_refusal": services.sole_owner_leaving_reason(team) if is_last_owner else "",
        "transfer_candidates": selectors.transfer_candidates(team=team, user=user) if manages_team else [],
        "invitations": invitations,
        "invite_form": forms.get("invite_form") or (InviteForm(roles=roles) if manages else None),
        "rename_form": forms.get("rename_form") or TeamForm(initial={"name": team.name}),
    }
    return render(request, "teams/detail.html", context, status=status)


def _back_to_team(membership: Membership) -> HttpResponse:
    return redirect("teams:detail", code=membership.team.code)


@login_required
@require_http_methods(["GET", "POST"])
def team_list(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_create(user=request.user, name=form.cleaned_data["name"])
        except services.TeamNameTakenError as refusal:
            form.add_error("name", str(refusal))
        else:
            set_active_team(request, team)  # new work goes to the team just made
            messages.success(
                request, f"Team “{team.name}” created and selected. Invite people to join it below."
            )
            return redirect("teams:detail", code=team.code)
    context = {
        "rows": selectors.teams_for_user(user=request.user),
        "invitations": selectors.invitations_for_user(user=request.user),
        "form": form,
    }
    return render(request, "teams/list.html", context)


@login_required
@require_GET
def team_detail(request: HttpRequest, code) -> HttpResponse:
    return _team_page(request, selectors.get_membership_for_user(user=request.user, code=code))


@login_required
@require_POST
def team_rename(request: HttpRequest, code) -> HttpResponse:
    membership = selectors.get_membership_for_user(user=request.user, code=code)
    if not can(request.user, Action.MANAGE_TEAM, team_id=membership.team_id):
        raise PermissionDenied("Only the team's owners can rename it.")
    form = TeamForm(request.POST)
    if not form.is_valid():
        return _team_page(request, membership, rename_form=form)
    try:
        services.team_rename(actor=request.user, team=membership.team, name=form.cleaned_data["name"])
    except services.TeamNameTakenError as refusal:
        form.add_error("name", str(refusal))
        return _team_page(request, membership, rename_form=form)
    messages.success(request, f"Renamed to “{membership.team.name}”.")
    return _back_to_team(membership)


@login_required
@require_POST
def invite(request: HttpRequest, code) -> HttpResponse:
    membership = selectors.get_membership_for_user(user=request.user, code=code)
    team = membership.team
    if not can(request.user, Action.MANAGE_MEMBERS, team_id=team.id):
        raise PermissionDenied("Only the team's admins and owners can invite.")
    form = InviteForm(request.POST, roles=selectors.roles_grantable_by(user=request.user, team_id=team.id))
    if not form.is_valid():
        return _team_page(request, membership, invite_form=form)
    try:
        invitation = services.invitation_create(team=team, inviter=request.user, **form.cleaned_data)
    except services.TeamRuleError as refusal:
        form.add_error("invitee", str(refusal))
        status = 429 if isinstance(refusal, services.InvitationLimitError) else 200
        return _team_page(request, membership, invite_form=form, status=status)
    mailed = services.invitation_email(invitation=invitation, join_url=_join_url(request, invitation))
    # The same words whether or not a user by that name exists (and never their address).
    name = invitation.invitee
    if "@" in name:
        told = f"E-mailed it to {name}" if mailed else f"Could not e-mail it to {name}"
    else:
        told = f"If {name} has an account, they find it under Teams (and by e-mail if they gave an address)"
    messages.success(request, f"Invited {name}. {told}; the link is listed below.")
    return _back_to_team(membership)


def _managed_member(request: HttpRequest, code, form_class, refusal: str):
    """A manager's request about one member: (own membership, bound form, the member or None)."""
    membership = selectors.get_membership_for_user(user=request.user, code=code)
    if not can(request.user, Action.MANAGE_MEMBERS, team_id=membership.team_id):
        raise PermissionDenied(refusal)
    form = form_class(request.POST)
    if not form.is_valid():
        return membership, form, None
    return (
        membership,
        form,
        selectors.get_team_member(team=membership.team, username=form.cleaned_data["member"]),
    )


@login_required
@require_POST
def member_role(request: HttpRequest, code) -> HttpResponse:
    membership, form, target = _managed_member(
        request, code, RoleForm, "Only the team's admins and owners can change roles."
    )
    if target is None:
        messages.error(request, "Choose a member and one of the listed roles.")
        return _back_to_team(membership)
    role = form.cleaned_data["role"]
    try:
        services.membership_set_role(actor=request.user, membership=target, role=role)
    except services.TeamRuleError as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{target.user.get_username()} is now {Role(role).label.lower()}.")
    return _back_to_team(membership)


@login_required
@require_POST
def member_remove(request: HttpRequest, code) -> HttpResponse:
    membership, _, target = _managed_member(
        request, code, MemberForm, "Only the team's admins and owners can remove members."
    )
    if target is None:
        messages.error(request, "Choose a member to remove.")
        return _back_to_team(membership)
    try:
        services.membership_remove(actor=request.user, membership=target)
    except services.TeamRuleError as refusal:
        messages.error(request, str(refusal))
        return _back_to_team(membership)
    if target.user_id == request.user.pk:
        return _left(request, membership)
    messages.success(request, f"Removed {target.user.get_username()} from {membership.team.name}.")
    return _back_to_team(membership)


def _left(request: HttpRequest, membership: Membership) -> HttpResponse:
    if request.session.get(SESSION_KEY) == str(membership.team.code):
        set_active_team(request, None)
    messages.success(request, f"You left {membership.team.name}.")
    return redirect("teams:list")


@login_required
@require_POST
def leave(request: HttpRequest, code) -> HttpResponse:
    membership = selectors.get_membership_for_user(user=request.user, code=code)
    try:
        services.membership_remove(actor=request.user, membership=membership)
    except services.TeamRuleError as refusal:  # the only owner: the page says what to do instead
        messages.error(request, str(refusal))
        return _team_page(request, membership, status=409)
    return _left(request, membership)


@login_required
@require_POST
def transfer(request: HttpRequest, code) -> HttpResponse:
    """An owner hands the team over: the member chosen becomes owner, the owner becomes admin."""
    membership = selectors.get_membership_for_user(user=request.user, code=code)
    if not can(request.user, Action.MANAGE_TEAM, team_id=membership.team_id):
        raise PermissionDenied("Only the team's owners can hand it over.")
    form = MemberForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the member to hand the team over to.")
        return _back_to_team(membership)
    target = selectors.get_team_member(team=membership.team, username=form.cleaned_data["member"])
    try:
        services.team_transfer_ownership(actor=request.user, team=membership.team, membership=target)
    except services.TeamRuleError as refusal:
        messages.error(request, str(refusal))
    else:
        name = target.user.get_username()
        messages.success(request, f"{name} is now an owner of {membership.team.name}, and you are an admin.")
    return _back_to_team(membership)


@login_required
@require_http_methods(["GET", "POST"])
def team_delete(request: HttpRequest, code) -> HttpResponse:
    """The confirmation page (what is deleted, what is kept), then the deletion once the name is typed."""
    membership = selectors.get_membership_for_user(user=request.user, code=code)
    team = membership.team
    if not can(request.user, Action.MANAGE_TEAM, team_id=team.id):
        raise PermissionDenied("Only the team's owners can delete it.")
    form = TeamDeleteForm(request.POST or None, team_name=team.name)
    if request.method == "POST" and form.is_valid():
        try:
            services.team_delete(actor=request.user, team=team, confirm=form.cleaned_data["confirm"])
        except services.TeamRuleError as error:  # work started meanwhile: said again below
            form.add_error(None, str(error))
        else:
            if request.session.get(SESSION_KEY) == str(team.code):
                set_active_team(request, None)
            messages.success(
                request, f"Deleted {team.name}. Its credits ledger is kept in every member's credit history."
            )
            return redirect("teams:list")
    summary = selectors.team_deletion_summary(team=team)
    refusal = services.team_deletion_refusal(summary)
    if refusal and refusal in form.non_field_errors():
        form.errors.pop("__all__")  # the page says it once, above the form
    context = {"team": team, "form": form, "summary": summary, "refusal": refusal}
    status = 409 if request.method == "POST" and refusal else 200
    return render(request, "teams/delete.html", context, status=status)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, code) -> HttpResponse:
    membership = selectors.get_membership_for_user(user=request.user, code=code)
    if not can(request.user, Action.MANAGE_MEMBERS, team_id=membership.team_id):
        raise PermissionDenied("Only the team's admins and owners can withdraw invitations.")
    form = InvitationForm(request.POST)
    token = form.cleaned_data["invitation"] if form.is_valid() else ""
    invitation = selectors.get_team_invitation(team=membership.team, token=token)
    try:
        services.invitation_revoke(actor=request.user, invitation=invitation)
    except services.TeamRuleError as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Withdrew the invitation for {invitation.invitee}.")
    return _back_to_team(membership)


@login_required
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    invitation = selectors.get_invitation(token=token)
    refusal = services.invitation_refusal(invitation=invitation, user=request.user)
    if request.method == "POST" and refusal is None:
        try:
            services.invitation_accept(invitation=invitation, user=request.user)
        except services.TeamRuleError as error:
            refusal = str(error)
        else:
            role = Role(invitation.role).label.lower()
            set_active_team(request, invitation.team)  # its library and new work are the team's at once
            messages.success(
                request,
                f"Welcome to {invitation.team.name}! You joined as {role} and are now working in the team.",
            )
            return redirect("teams:detail", code=invitation.team.code)
    context = {
        "invitation": invitation,
        "refusal": refusal,
        "is_for_me": services.invitation_is_for(invitation, request.user),
        "member_of_team": invitation.team_id in memberships_of(request.user),
    }
    return render(request, "teams/join.html", context, status=200 if request.method == "GET" else 409)


@login_required
@require_POST
def decline(request: HttpRequest, token: str) -> HttpResponse:
    """The invitee turns the invitation down: it leaves their list and the team's pending invitations."""
    invitation = selectors.get_invitation(token=token)
    try:
        services.invitation_decline(invitation=invitation, user=request.user)
    except services.TeamRuleError as refusal:
        context = {
            "invitation": invitation,
            "refusal": str(refusal),
            "is_for_me": services.invitation_is_for(invitation, request.user),
            "member_of_team": invitation.team_id in memberships_of(request.user),
        }
        return render(request, "teams/join.html", context, status=409)
    messages.info(request, f"You declined the invitation to {invitation.team.name}.")
    return redirect("teams:list")


@login_required
@require_POST
def switch(request: HttpRequest) -> HttpResponse:
    """Pick the active team (``team``: a team code, or empty for personal work) and go back."""
    code = request.POST.get("team", "").strip()
    if not code:
        set_active_team(request, None)
    else:
        membership = selectors.find_membership(user=request.user, code=code)
        if membership is None:
            messages.error(request, "You are not a member of that team.")
        else:
            set_active_team(request, membership.team)
    return HttpResponseRedirect(safe_next(request, "/"))
