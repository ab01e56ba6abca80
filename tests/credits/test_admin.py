"""Operators in Django's admin: ledger rows are read-only, refunds and top-ups go through the services."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from credits.models import Budget, BudgetAlert, DailyPromptSpend, DailySpend, LedgerEntry
from credits.services import budget_alerts_check, budget_set, ledger_top_up
from tests.credits.helpers import charge, ledger_spend, rollup_spend
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db

ADD = reverse("admin:credits_ledgerentry_add")


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("operator", "op@example.com", "x")
    client.force_login(user)
    return user


@pytest.fixture
def team(alice, bob):
    return make_team(alice, member=bob)


def test_a_refund_added_in_the_admin_is_stored_negative_and_rolled_up(client, operator, bob, team):
    generation = charge(bob, team=team, n=3)
    assert rollup_spend(team=team) == 3
    response = client.post(
        ADD,
        {"kind": "refund", "generation": generation.id, "credits": "2", "note": "two blurry images"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    refund = LedgerEntry.objects.get(kind="refund")
    assert (refund.credits, refund.user, refund.team, refund.model, refund.created_by) == (
        -2,
        bob,
        team,
        "flux-pro",
        operator,
    )
    assert refund.note == "two blurry images"
    assert rollup_spend(team=team) == ledger_spend(team=team) == 1
    assert rollup_spend(user=bob) == 1


def test_a_refund_without_a_generation_needs_a_user(client, operator, bob, team):
    response = client.post(ADD, {"kind": "refund", "team": team.id, "credits": "1"})
    assert response.status_code == 200
    assert "A refund goes back to a user" in response.content.decode()
    response = client.post(ADD, {"kind": "refund", "user": bob.id, "credits": "1", "note": "goodwill"})
    assert response.status_code == 302
    assert LedgerEntry.objects.get().credits == -1 and rollup_spend(user=bob, team=None) == -1


def test_a_refund_cannot_be_entered_negative_or_zero(client, operator, bob):
    for value in ("-2", "0"):
        response = client.post(ADD, {"kind": "refund", "user": bob.id, "credits": value})
        assert response.status_code == 200
        assert "Enter a positive number of credits" in response.content.decode()
    assert not LedgerEntry.objects.exists()


def test_refunds_and_top_ups_in_the_admin_take_decimals_and_refuse_nonsense(client, operator, bob, team):
    generation = charge(bob, team=team, n=2, cost="1.5")
    response = client.post(ADD, {"kind": "refund", "generation": generation.id, "credits": "1.25"})
    assert response.status_code == 302, response.content.decode()[:2000]
    response = client.post(ADD, {"kind": "top_up", "team": team.id, "credits": "12.5"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert rollup_spend(team=team) == ledger_spend(team=team) == Decimal("1.75")
    assert LedgerEntry.objects.get(kind="top_up").credits == Decimal("12.5")
    for value, message in (("NaN", "Enter a number of credits"), ("1.00001", "at most 4 decimal places")):
        response = client.post(ADD, {"kind": "refund", "user": bob.id, "credits": value})
        assert response.status_code == 200 and message in response.content.decode()
    listing = client.get(reverse("admin:credits_ledgerentry_changelist")).content.decode()
    assert ">-1.25<" in listing and ">12.5<" in listing and ".0000" not in listing
    response = client.post(reverse("admin:credits_budget_add"), {"team": team.id, "monthly_credits": "-0.5"})
    assert response.status_code == 200 and "cannot be negative" in response.content.decode()
    response = client.post(reverse("admin:credits_budget_add"), {"team": team.id, "monthly_credits": "7.5"})
    assert response.status_code == 302 and Budget.objects.get().monthly_credits == Decimal("7.5")


def test_a_refund_must_match_its_generation(client, operator, alice, bob, team):
    generation = charge(bob, team=team, n=1)
    response = client.post(
        ADD, {"kind": "refund", "generation": generation.id, "user": alice.id, "credits": "1"}
    )
    assert "This is not the user of that generation." in response.content.decode()
    assert LedgerEntry.objects.filter(kind="refund").count() == 0


def test_a_top_up_added_in_the_admin_counts_for_the_team_not_as_spend(client, operator, team):
    response = client.post(ADD, {"kind": "top_up", "team": team.id, "credits": "500", "note": "plan"})
    assert response.status_code == 302
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.credits, entry.team, entry.user, entry.created_by) == (
        "top_up",
        500,
        team,
        operator,
        operator,
    )
    assert not DailySpend.objects.exists()
    response = client.post(ADD, {"kind": "top_up", "credits": "5"})
    assert "A top-up is for a team" in response.content.decode()


def test_charges_cannot_be_added_by_hand(client, operator, bob, team):
    page = client.get(ADD).content.decode()
    assert 'value="refund"' in page and 'value="top_up"' in page and 'value="charge"' not in page
    response = client.post(ADD, {"kind": "charge", "user": bob.id, "team": team.id, "credits": "1"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not LedgerEntry.objects.exists()


def test_existing_ledger_rows_cannot_be_changed_or_deleted(client, operator, bob, team):
    entry = LedgerEntry.objects.get(generation=charge(bob, team=team, n=1))
    change = reverse("admin:credits_ledgerentry_change", args=[entry.id])
    page = client.get(change)
    assert page.status_code == 200  # viewable…
    assert 'name="credits"' not in page.content.decode()  # …but not as a form
    response = client.post(change, {"kind": "charge", "user": bob.id, "credits": "5"})
    assert response.status_code == 403
    assert (
        client.post(reverse("admin:credits_ledgerentry_delete", args=[entry.id]), {"post": "yes"}).status_code
        == 403
    )
    response = client.post(
        reverse("admin:credits_ledgerentry_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.id]},
    )
    assert LedgerEntry.objects.get(id=entry.id).credits == 1


def test_the_ledger_list_filters_by_kind_model_and_team(client, operator, alice, bob, team):
    charge(bob, team=team, n=1, model="flux-1.1-pro")
    ledger_top_up(actor=alice, team=team, credits=10)
    changelist = reverse("admin:credits_ledgerentry_changelist")
    assert client.get(changelist).status_code == 200
    for query in (
        {"kind__exact": "top_up"},
        {"model": "flux-1.1-pro"},
        {"team__id__exact": team.id},
        {"q": "bob"},
    ):
        assert client.get(changelist, query).status_code == 200
    page = client.get(changelist, {"kind__exact": "top_up"}).content.decode()
    assert "Top-up" in page and "flux-1.1-pro</td>" not in page


def test_budgets_are_editable_and_must_belong_to_a_member(client, operator, alice, bob, team, make_user):
    eve = make_user("eve")
    add = reverse("admin:credits_budget_add")
    assert client.post(add, {"team": team.id, "user": eve.id, "monthly_credits": "5"}).status_code == 200
    assert not Budget.objects.exists()
    assert client.post(add, {"team": team.id, "user": bob.id, "monthly_credits": "5"}).status_code == 302
    budget = Budget.objects.get()
    assert budget.updated_by == operator
    change = reverse("admin:credits_budget_change", args=[budget.id])
    assert client.post(change, {"team": team.id, "user": bob.id, "monthly_credits": "9"}).status_code == 302
    assert Budget.objects.get().monthly_credits == 9


def test_alerts_and_the_rollup_are_read_only(client, operator, alice, bob, team):
    budget_set(actor=alice, team=team, monthly_credits=1)
    charge(bob, team=team, n=1)
    budget_alerts_check(team_id=team.id, user_id=bob.id)
    objects = {
        "budgetalert": BudgetAlert.objects.first(),
        "dailyspend": DailySpend.objects.first(),
        "dailypromptspend": DailyPromptSpend.objects.first(),
    }
    for name, obj in objects.items():
        assert client.get(reverse(f"admin:credits_{name}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:credits_{name}_add")).status_code == 403
        assert (
            client.post(reverse(f"admin:credits_{name}_delete", args=[obj.id]), {"post": "yes"}).status_code
            == 403
        )
        assert client.post(reverse(f"admin:credits_{name}_change", args=[obj.id]), {}).status_code == 403


def test_the_rollup_is_rebuilt_by_an_admin_action_and_a_command(client, operator, bob, team):
    charge(bob, team=team, n=3)
    DailySpend.objects.update(credits=99)  # drifted (say, after a bad manual repair)
    DailyPromptSpend.objects.update(credits=99)
    response = client.post(
        reverse("admin:credits_dailyspend_changelist"),
        {"action": "rebuild_rollup", "_selected_action": [DailySpend.objects.first().id]},
    )
    assert response.status_code == 302
    assert rollup_spend() == ledger_spend() == 3
    assert DailyPromptSpend.objects.get().credits == 3

    DailySpend.objects.update(credits=42)
    out = StringIO()
    call_command("rebuild_spend_rollup", stdout=out)
    assert "Rebuilt the daily roll-up: 1 row in" in out.getvalue()
    assert rollup_spend() == 3
