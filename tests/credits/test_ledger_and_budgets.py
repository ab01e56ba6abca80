"""The ledger is append-only, its roll-up never drifts, budgets hold under concurrency, alerts fire once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.models import Sum

from credits.models import BudgetAlert, DailySpend, LedgerEntry
from credits.services import (
    budget_alerts_check,
    budget_set,
    ledger_charge_images,
    ledger_refund,
    ledger_top_up,
    spend_rollup_rebuild,
)
from generations import services
from generations.models import Generation
from generations.pixeldojo import GenerationRequest
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db


def charge(user, team=None, model="flux-pro", n=1):
    images = [make_image(user, team=team, model=model) for _ in range(n)]
    for image in images:
        ledger_charge_images(generation=image.generation, images=[image], credits=1)
    return images


def rollup_total(**filters) -> int:
    return DailySpend.objects.filter(**filters).aggregate(t=Sum("credits"))["t"] or 0


def ledger_spend(**filters) -> int:
    rows = LedgerEntry.objects.filter(kind__in=LedgerEntry.SPEND_KINDS, **filters)
    return rows.aggregate(t=Sum("credits"))["t"] or 0


def test_ledger_rows_cannot_be_changed_or_deleted(alice):
    entry = charge(alice)[0].ledger_entries.get()
    entry.credits = 5
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    assert LedgerEntry.objects.get().credits == 1


def test_charges_are_once_per_image_and_the_rollup_matches_the_ledger(alice, bob):
    team = make_team(alice, member=bob)
    images = charge(alice, team, n=3) + charge(bob, team, model="flux-1.1-pro", n=2) + charge(alice, n=1)
    ledger_charge_images(
        generation=images[0].generation, images=[images[0]], credits=1
    )  # a retry: no second charge
    ledger_refund(
        actor=alice, user=bob, team=team, credits=1, note="bad output", generation=images[3].generation
    )
    ledger_top_up(actor=alice, team=team, credits=500, note="monthly plan")

    assert ledger_spend() == 6 - 1
    assert rollup_total() == ledger_spend()
    assert rollup_total(team=team) == ledger_spend(team=team) == 4
    assert rollup_total(user=bob) == ledger_spend(user=bob) == 1
    assert rollup_total(team__isnull=True) == 1
    by_model = dict(DailySpend.objects.filter(team=team).values_list("model").annotate(Sum("credits")))
    assert by_model == {"flux-pro": 3, "flux-1.1-pro": 1}

    def rows() -> set[tuple]:
        return set(DailySpend.objects.values_list("day", "team_id", "user_id", "model", "credits"))

    before = rows()
    spend_rollup_rebuild()
    assert rows() == before


def submit(user, team, n: int):
    params = GenerationRequest(prompt="budget test", model="flux-pro", num_outputs=n)
    return services.generation_submit(user=user, team=team, params=params)


def test_submission_over_the_team_budget_is_refused_counting_work_in_progress(alice, bob):
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=6)
    charge(alice, team, n=2)  # 2 spent
    submit(bob, team, 3)  # 3 queued
    with pytest.raises(services.SubmissionRefused, match="only 1 of Studio's monthly budget of 6 is left"):
        submit(bob, team, 2)
    submit(bob, team, 1)
    assert list(Generation.objects.filter(prompt="budget test").values_list("num_outputs", flat=True)) == [
        1,
        3,
    ]


def test_member_budget_is_enforced_separately(alice, bob):
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=100)
    budget_set(actor=alice, team=team, user=bob, monthly_credits=2)
    submit(bob, team, 2)
    with pytest.raises(services.SubmissionRefused, match="your monthly budget of 2"):
        submit(bob, team, 1)
    submit(alice, team, 4)  # alice has no personal cap


def test_personal_work_has_no_team_budget(alice):
    team = make_team(alice)
    budget_set(actor=alice, team=team, monthly_credits=0)
    submit(alice, None, 4)
    with pytest.raises(services.SubmissionRefused):
        submit(alice, team, 1)


@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_submissions_with_room_for_five_accept_exactly_five(alice, make_user):
    team = make_team(alice)
    budget_set(actor=alice, team=team, monthly_credits=5)
    barrier = threading.Barrier(20)

    def attempt(_: int) -> bool:
        try:
            barrier.wait(timeout=10)
            submit(alice, team, 1)
            return True
        except services.SubmissionRefused:
            return False
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        accepted = sum(pool.map(attempt, range(20)))
    assert accepted == 5
    assert Generation.objects.filter(team=team).aggregate(t=Sum("num_outputs"))["t"] == 5
    assert connection.vendor in ("postgresql", "sqlite")


def test_alerts_fire_once_per_threshold_and_month_and_mail_the_admins(alice, bob, make_user, mailoutbox):
    carol = make_user("carol")
    alice.email, carol.email = "alice@example.com", "carol@example.com"
    alice.save()
    carol.save()
    team = make_team(alice, member=bob, admin=carol)
    budget = budget_set(actor=alice, team=team, monthly_credits=10)
    charge(bob, team, n=7)
    assert budget_alerts_check(team_id=team.id, user_id=bob.id) == []
    charge(bob, team, n=1)  # 8 of 10: 80 %
    assert [a.threshold for a in budget_alerts_check(team_id=team.id, user_id=bob.id)] == [80]
    assert budget_alerts_check(team_id=team.id, user_id=bob.id) == []  # once
    charge(bob, team, n=2)  # 10 of 10
    assert [a.threshold for a in budget_alerts_check(team_id=team.id, user_id=bob.id)] == [100]
    assert list(BudgetAlert.objects.filter(budget=budget).values_list("threshold", "spent")) == [
        (100, 10),
        (80, 8),
    ]
    assert len(mailoutbox) == 2
    assert sorted(mailoutbox[0].to) == ["alice@example.com", "carol@example.com"]
    assert "reached 80%" in mailoutbox[0].subject and "8 of 10 credits" in mailoutbox[0].body
