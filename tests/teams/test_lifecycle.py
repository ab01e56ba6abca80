"""A team's whole life in services: unique names, handing over, declining, deleting (the ledger stays)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage

from credits.models import Budget, DailySpend, LedgerEntry
from credits.services import budget_set, ledger_charge_images, ledger_top_up
from generations.models import Generation, Image
from generations.pixeldojo import GenerationRequest
from generations.services import SubmissionRefused, generation_submit
from library.models import Collection, CollectionItem
from teams import selectors, services
from teams.hooks import TeamDeletionSummary
from teams.models import Invitation, Membership, Role, Team
from teams.permissions import Action, can, forget_memberships, memberships_of
from teams.services import TeamNameTakenError, TeamRuleError
from tests.library.factories import make_image
from tests.teams import make_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(make_user):
    return make_user("carol")


def role_of(user, team: Team) -> str | None:
    return team.memberships.filter(user=user).values_list("role", flat=True).first()


def fresh(user):
    forget_memberships(user)
    return user


# --- names ---


def test_a_user_cannot_have_two_teams_of_the_same_name_ignoring_case(alice, bob):
    make_team(alice, name="Design")
    with pytest.raises(TeamNameTakenError, match="You already have a team called “design”"):
        services.team_create(user=alice, name="design")
    make_team(alice, name="Équipe")
    with pytest.raises(TeamNameTakenError):
        services.team_create(user=alice, name="éQUIPE")  # Unicode case, on SQLite too
    assert services.team_create(user=bob, name="Design").name == "Design"  # someone else's is no clash
    assert Team.objects.filter(name__iexact="design").count() == 2


def test_renaming_to_another_of_my_teams_names_is_refused_but_recasing_my_own_is_fine(alice, bob):
    design, other = make_team(alice, name="Design"), make_team(alice, name="Other")
    with pytest.raises(TeamNameTakenError):
        services.team_rename(actor=alice, team=other, name="DESIGN")
    assert services.team_rename(actor=alice, team=design, name="DESIGN").name == "DESIGN"
    Membership.objects.create(team=make_team(bob, name="Bob's"), user=alice, role=Role.MEMBER)
    with pytest.raises(TeamNameTakenError):  # a team alice sees in her switcher, though not hers
        services.team_rename(actor=alice, team=design, name="bob's")


def test_teams_sharing_a_name_say_whose_they_are_in_the_switcher(alice, bob, carol):
    bobs = make_team(bob, name="Design")
    alices = make_team(alice, name="design", carol=Role.OWNER)
    make_team(carol, name="Zoo")
    Membership.objects.create(team=bobs, user=carol, role=Role.VIEWER)
    labels = [choice.label for choice in selectors.team_choices(user=fresh(carol))]
    assert labels == ["Design · owned by bob", "design · owned by alice, you", "Zoo"]
    assert [row.label for row in selectors.teams_for_user(user=carol)] == labels
    assert [c.label for c in selectors.team_choices(user=fresh(bob))] == ["Design"]  # no clash for bob
    assert alices.name == "design"


def test_teams_of_the_same_name_and_owners_are_told_apart_by_code(alice, bob):
    first = make_team(alice, name="Twins")
    second = Team.objects.create(name="twins", created_by=bob)  # same owner, made outside the services
    Membership.objects.create(team=second, user=alice, role=Role.OWNER)
    labels = [choice.label for choice in selectors.team_choices(user=fresh(alice))]
    assert labels == [
        f"Twins · owned by you · {first.code.hex[:6]}",
        f"twins · owned by you · {second.code.hex[:6]}",
    ]


# --- handing a team over ---


def test_an_owner_hands_the_team_over_and_becomes_admin_in_one_step(alice, bob, carol):
    team = make_team(alice, bob=Role.MEMBER)
    owners_invite = services.invitation_create(team=team, inviter=alice, invitee="carol", role=Role.OWNER)
    services.team_transfer_ownership(actor=alice, team=team, membership=team.memberships.get(user=bob))
    assert (role_of(bob, team), role_of(alice, team)) == (Role.OWNER, Role.ADMIN)
    owners_invite.refresh_from_db()
    assert owners_invite.revoked_at is not None  # an admin may not give "owner": her invitation goes
    assert not can(fresh(alice), Action.MANAGE_TEAM, team_id=team.id)
    with pytest.raises(PermissionDenied):  # and she cannot take it back
        services.team_transfer_ownership(actor=alice, team=team, membership=team.memberships.get(user=alice))


def test_only_owners_hand_over_and_never_to_themselves(alice, bob, carol):
    team = make_team(alice, bob=Role.ADMIN, carol=Role.MEMBER)
    with pytest.raises(PermissionDenied):
        services.team_transfer_ownership(actor=bob, team=team, membership=team.memberships.get(user=carol))
    with pytest.raises(TeamRuleError, match="Choose another member"):
        services.team_transfer_ownership(actor=alice, team=team, membership=team.memberships.get(user=alice))
    elsewhere = make_team(carol, name="Elsewhere")
    with pytest.raises(TeamRuleError, match="no longer a member"):  # a membership of another team
        services.team_transfer_ownership(
            actor=alice, team=team, membership=elsewhere.memberships.get(user=carol)
        )
    assert (role_of(alice, team), role_of(carol, elsewhere)) == (Role.OWNER, Role.OWNER)


def test_after_handing_over_the_former_owner_may_leave(alice, bob):
    team = make_team(alice, bob=Role.VIEWER)
    with pytest.raises(TeamRuleError, match="only owner"):
        services.membership_remove(actor=alice, membership=team.memberships.get(user=alice))
    services.team_transfer_ownership(actor=alice, team=team, membership=team.memberships.get(user=bob))
    services.membership_remove(actor=alice, membership=team.memberships.get(user=alice))
    assert list(team.memberships.values_list("user__username", "role")) == [("bob", "owner")]


# --- invitations for me: accept or decline ---


def test_pending_invitations_for_me_by_username_and_by_email(alice, bob):
    bob.email = "Bob@Example.com"
    bob.save()
    by_name = make_team(alice, name="By name")
    by_mail = make_team(alice, name="By mail")
    services.invitation_create(team=by_name, inviter=alice, invitee="bob", role=Role.MEMBER)
    services.invitation_create(team=by_mail, inviter=alice, invitee="bob@example.com", role=Role.VIEWER)
    assert [i.team.name for i in selectors.invitations_for_user(user=bob)] == ["By mail", "By name"]


def test_declining_removes_the_invitation_for_both_sides_and_the_link_stops_working(alice, bob):
    team = make_team(alice)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.MEMBER)
    services.invitation_decline(invitation=invitation, user=bob)
    services.invitation_decline(invitation=invitation, user=bob)  # twice: a no-op
    invitation.refresh_from_db()
    assert invitation.declined_at is not None
    assert selectors.invitations_for_user(user=bob) == []
    assert list(selectors.pending_invitations(team=team)) == []
    assert services.invitation_refusal(invitation=invitation, user=bob) == (
        "This invitation was declined. Ask the team for a new one."
    )
    with pytest.raises(TeamRuleError, match="declined"):
        services.invitation_accept(invitation=invitation, user=bob)
    with pytest.raises(TeamRuleError, match="already used, declined or withdrawn"):
        services.invitation_revoke(actor=alice, invitation=invitation)
    again = services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.MEMBER)
    assert [i.pk for i in selectors.invitations_for_user(user=bob)] == [again.pk]


def test_only_the_invitee_declines_a_pending_invitation(alice, bob, carol):
    team = make_team(alice)
    invitation = services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.MEMBER)
    with pytest.raises(TeamRuleError, match="for someone else"):
        services.invitation_decline(invitation=invitation, user=carol)
    services.invitation_accept(invitation=invitation, user=bob)
    with pytest.raises(TeamRuleError, match="no longer pending"):
        services.invitation_decline(invitation=invitation, user=bob)
    invitation.refresh_from_db()
    assert invitation.declined_at is None and role_of(bob, team) == Role.MEMBER


# --- deleting a team ---


@pytest.fixture
def full_team(alice, bob, carol):
    """A team with two images (files stored), a collection, a failed generation, charges, a top-up,
    budgets and a pending invitation; bob is an admin, carol a member."""
    team = make_team(alice, name="Doomed", bob=Role.ADMIN, carol=Role.MEMBER)
    images = [make_image(alice, team=team, with_files=True), make_image(carol, team=team, with_files=True)]
    failed = Generation.objects.create(
        user=carol, team=team, prompt="never made", model="flux-pro", status="failed"
    )
    board = Collection.objects.create(name="Board", team=team, created_by=alice, cover=images[0])
    CollectionItem.objects.create(collection=board, image=images[0])
    for image in images:
        ledger_charge_images(generation=image.generation, images=[image], credits=Decimal("1.5"))
    ledger_top_up(actor=alice, team=team, credits=100, note="plan")
    budget_set(actor=alice, team=team, monthly_credits=50)
    budget_set(actor=alice, team=team, monthly_credits=10, user=carol)
    services.invitation_create(team=team, inviter=alice, invitee="dora", role=Role.MEMBER)
    return team, images, failed


def test_the_summary_says_what_goes_and_what_stays(full_team):
    team, _, _ = full_team
    assert selectors.team_deletion_summary(team=team) == TeamDeletionSummary(
        images=2, collections=1, ledger_entries=3, ledger_credits=Decimal(3), work_in_flight=0
    )


def test_deleting_a_team_deletes_its_work_and_files_and_keeps_its_ledger(
    full_team, alice, bob, carol, make_user, django_capture_on_commit_callbacks
):
    team, images, failed = full_team
    mine = make_image(alice)  # alice's personal work is untouched
    ledger = list(LedgerEntry.objects.filter(team=team).values_list("pk", "kind", "credits", "user_id"))
    rollup = list(DailySpend.objects.filter(team=team).values_list("user_id", "credits"))
    names = [name for image in images for name in (image.file.name, image.thumbnail.name)]
    assert all(default_storage.exists(name) for name in names)

    with django_capture_on_commit_callbacks(execute=True):
        summary = services.team_delete(actor=alice, team=team, confirm="  Doomed ")

    assert summary.images == 2 and summary.collections == 1
    team.refresh_from_db()
    assert team.deleted_at is not None and team.name == "Doomed"  # the row stays for the ledger
    assert not Image.objects.filter(team=team).exists()
    assert (
        not Generation.objects.filter(team=team).exists()
        and not Generation.objects.filter(pk=failed.pk).exists()
    )
    assert not Collection.objects.filter(team=team).exists()
    assert not any(default_storage.exists(name) for name in names)  # the files left storage
    assert (
        not Membership.objects.filter(team=team).exists()
        and not Invitation.objects.filter(team=team).exists()
    )
    assert not Budget.objects.filter(team=team).exists()
    assert (
        list(LedgerEntry.objects.filter(team=team).values_list("pk", "kind", "credits", "user_id")) == ledger
    )
    assert list(DailySpend.objects.filter(team=team).values_list("user_id", "credits")) == rollup
    assert Image.objects.filter(pk=mine.pk).exists()
    for user in (alice, bob, carol):
        fresh(user)
        assert team.id not in memberships_of(user) and not can(user, Action.VIEW, team_id=team.id)
        assert all(choice.team.pk != team.pk for choice in selectors.team_choices(user=user))


def test_a_deleted_team_grants_no_role_even_if_a_membership_row_is_left(full_team, alice, bob):
    team, _, _ = full_team
    services.team_delete(actor=alice, team=team, confirm="Doomed")
    Membership.objects.create(team=team, user=bob, role=Role.OWNER)  # as a stray row would
    assert (
        not can(fresh(bob), Action.VIEW, team_id=team.id)
        and selectors.find_membership(user=bob, code=team.code) is None
    )


def test_only_owners_delete_and_only_with_the_name_typed(full_team, alice, bob):
    team, _, _ = full_team
    with pytest.raises(PermissionDenied):
        services.team_delete(actor=bob, team=team, confirm="Doomed")
    with pytest.raises(TeamRuleError, match="Type the team's name, Doomed, exactly"):
        services.team_delete(actor=alice, team=team, confirm="doomed")
    team.refresh_from_db()
    assert team.deleted_at is None and Image.objects.filter(team=team).count() == 2


@pytest.mark.parametrize("status", ["queued", "generating", "saving"])
def test_a_team_is_not_deleted_under_work_in_flight(full_team, alice, status):
    team, _, _ = full_team
    Generation.objects.create(user=alice, team=team, prompt="on its way", model="flux-pro", status=status)
    with pytest.raises(TeamRuleError, match="1 generation is still queued, running or saving"):
        services.team_delete(actor=alice, team=team, confirm="Doomed")
    team.refresh_from_db()
    assert team.deleted_at is None and Image.objects.filter(team=team).count() == 2
    assert Membership.objects.filter(team=team).count() == 3 and Budget.objects.filter(team=team).count() == 2
    assert selectors.team_deletion_summary(team=team).work_in_flight == 1


def test_work_submitted_as_the_team_is_deleted_is_refused_not_queued_in_a_deleted_team(
    full_team, alice, carol
):
    """Carol's request loaded her roles before the deletion committed (a race): the submission locks the
    team's row as the deletion does, sees it deleted, and queues nothing."""
    team, _, _ = full_team
    assert can(fresh(carol), Action.GENERATE, team_id=team.id)  # her request's roles, loaded earlier
    services.team_delete(actor=alice, team=team, confirm="Doomed")
    params = GenerationRequest(prompt="too late", model="flux-pro", num_outputs=1)
    with pytest.raises(SubmissionRefused, match="Doomed was deleted"):
        generation_submit(user=carol, params=params, team=team)
    assert not Generation.objects.filter(team=team).exists()


def test_an_invitation_opened_before_its_team_was_deleted_is_refused_not_a_crash(
    full_team, alice, bob, make_user
):
    team, _, _ = full_team
    dora = make_user("dora")
    invitation = Invitation.objects.get(team=team, invitee="dora")  # loaded before the deletion
    services.team_delete(actor=alice, team=team, confirm="Doomed")
    for act in (services.invitation_accept, services.invitation_decline):
        with pytest.raises(TeamRuleError, match="the team was deleted"):
            act(invitation=invitation, user=dora)
    assert not Membership.objects.filter(user=dora).exists()
