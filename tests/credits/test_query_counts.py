"""The credit pages cost the same number of SQL queries however many ledger rows and members there are."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from credits.models import LedgerEntry
from credits.services import budget_alerts_check, budget_set, ledger_top_up, spend_rollup_rebuild
from generations.models import Generation
from teams.models import Membership
from tests.credits.helpers import at, charge, client_in, days_ago
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db

MODELS = ("flux-pro", "flux-1.1-pro", "flux-1.1-pro-ultra", "flux-dev-single-lora")


def queries(client, url: str, **params) -> int:
    client.get(url, params)  # warm: the header's values are cached from the first request on
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured.captured_queries)


def spread_charges(users, team, rows: int) -> None:
    """``rows`` charges over 60 days, 4 models, personal and team work, with distinct prompts."""
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            kind="charge",
            user=users[n % len(users)],
            team=team if n % 3 else None,
            generation=Generation.objects.create(
                user=users[n % len(users)],
                team=team if n % 3 else None,
                prompt=f"prompt {n % 37}",
                model=MODELS[n % 4],
                status="done",
            ),
            model=MODELS[n % 4],
            credits=1,
        )
        for n in range(rows)
    )
    for n, entry in enumerate(LedgerEntry.objects.order_by("id")):
        LedgerEntry.objects.filter(id=entry.id).update(created_at=at(days_ago(n % 60)))
    spend_rollup_rebuild()


def test_my_page_costs_the_same_with_one_or_two_hundred_ledger_rows(alice, bob):
    team = make_team(alice, member=bob)
    charge(alice, team=team, n=1)
    client = client_in(alice, team)
    few = queries(client, reverse("credits:mine"))
    spread_charges([alice], team, 199)
    assert LedgerEntry.objects.filter(user=alice).count() == 200
    assert queries(client, reverse("credits:mine")) == few
    assert queries(client, reverse("credits:mine"), days=90) == few


def test_team_dashboard_costs_the_same_with_one_or_ten_members_and_many_rows(alice, make_user):
    team = make_team(alice)
    charge(alice, team=team, n=1)
    client = client_in(alice, team)
    url = reverse("credits:team")
    few = queries(client, url)

    members = [make_user(f"member{n}") for n in range(9)]
    Membership.objects.bulk_create(Membership(team=team, user=user, role="member") for user in members)
    spread_charges([alice, *members], team, 200)
    budget_set(actor=alice, team=team, monthly_credits=10)
    for user in members:
        budget_set(actor=alice, team=team, user=user, monthly_credits=3)
        Generation.objects.create(user=user, team=team, prompt="queued", model="flux-pro", num_outputs=1)
        budget_alerts_check(team_id=team.id, user_id=user.id)
    ledger_top_up(actor=alice, team=team, credits=100)
    assert team.memberships.count() == 10

    assert queries(client, url) == few
    assert queries(client, url, days=90) == few
