"""What images cost, end to end: the per-model table, PixelDojo's own ``credits_used`` and balance, budgets
that reserve a price, through the real sandbox over HTTP and real Celery workers."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse

from credits.amounts import plain
from credits.models import BudgetAlert, LedgerEntry, ProviderBalance
from credits.services import budget_set
from generations import services
from generations.models import Generation
from generations.pixeldojo import GenerationRequest
from sandbox.config import KeyPlan
from tests.conftest import SANDBOX_KEY, wait_for
from tests.credits.helpers import client_in
from tests.generations.factories import make_kept_answer
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
ULTRA = "flux-1.1-pro-ultra"


def submit(user, *, team=None, model: str = "flux-pro", n: int = 1) -> Generation:
    params = GenerationRequest(prompt="a lighthouse at dawn", model=model, num_outputs=n, megapixels="0.25")
    return services.generation_submit(user=user, team=team, params=params)


def finished(generation: Generation):
    def check():
        """the generation reaches a final state"""
        generation.refresh_from_db()
        return generation.status in (Generation.Status.DONE, Generation.Status.FAILED)

    return check


def charges(generation: Generation) -> list[Decimal]:
    rows = LedgerEntry.objects.filter(generation=generation, kind="charge").order_by("image__index")
    return list(rows.values_list("credits", flat=True))


def text(html: str) -> str:
    """The page as a person reads it: tags dropped, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def page(client, name: str) -> str:
    response = client.get(reverse(name))
    assert response.status_code == 200
    return text(response.content.decode())


def balance_shown(client, name: str) -> str | None:
    """The provider balance line of a credits page, as read."""
    html = client.get(reverse(name)).content.decode()
    found = re.search(r'data-testid="provider-balance">(.*?)</p>', html, re.S)
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))) if found else None


def test_ultra_images_cost_what_the_table_says(celery_worker, alice, sandbox):
    generation = submit(alice, model=ULTRA, n=2)
    assert generation.price == D("3")  # reserved before PixelDojo is asked
    wait_for(finished(generation), timeout=30)

    assert generation.status == Generation.Status.DONE, generation.error_message
    assert "credits_used" not in json.loads(generation.provider_answer)  # the sandbox did not say
    assert charges(generation) == [D("1.5"), D("1.5")]
    assert sum(charges(generation)) == D("3")
    mine = page(client_in(alice), "credits:mine")
    assert "3 credits spent" in mine  # the header
    assert "PixelDojo balance" not in mine and balance_shown(client_in(alice), "credits:mine") is None


def test_a_team_budget_reserves_prices_refuses_what_does_not_fit_and_alerts_with_decimals(
    celery_worker, alice, bob, sandbox, mailoutbox
):
    alice.email = "alice@example.com"
    alice.save()
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=5)

    with pytest.raises(services.SubmissionRefused) as refused:
        submit(bob, team=team, model=ULTRA, n=4)
    assert str(refused.value).startswith("This needs 6 credits but only 5 of Studio's monthly budget of 5")
    generation = submit(bob, team=team, model=ULTRA, n=3)  # 4.5 fits
    assert generation.price == D("4.5")
    with pytest.raises(services.SubmissionRefused, match=r"needs 1 credit but only 0\.5 of"):
        submit(bob, team=team, n=1)  # 4.5 reserved while PixelDojo works on it
    wait_for(finished(generation), timeout=30)
    assert generation.status == Generation.Status.DONE, generation.error_message
    assert charges(generation) == [D("1.5")] * 3

    alert = wait_for(lambda: BudgetAlert.objects.filter(kind="threshold").first(), timeout=10)  # after commit
    assert (alert.threshold, alert.spent, alert.limit) == (80, D("4.5"), D("5"))
    wait_for(lambda: mailoutbox, timeout=10)
    assert "has used 4.5 of 5 credits this month (80% threshold)" in mailoutbox[0].body
    with pytest.raises(services.SubmissionRefused, match=r"needs 1 credit but only 0\.5 of"):
        submit(bob, team=team, n=1)  # spent now, no longer reserved

    admin = client_in(alice, team)
    dashboard = page(admin, "credits:team")
    assert "4.5 spent this month" in dashboard
    assert "0 reserved by work in progress" in dashboard
    assert "0.5 left of the 5-credit monthly budget" in dashboard
    assert "The whole team 4.5 0 5 90 %" in dashboard  # the budget row: used, reserved, limit
    assert "80 % 4.5 / 5" in dashboard  # the alert
    assert "bob Member 4.5 0 \N{EN DASH}" in dashboard
    assert f"{ULTRA} 4.5 100.0 %" in dashboard
    mine = page(client_in(bob, team), "credits:mine")
    assert "4.5 today" in mine and "4.5 this month" in mine and "4.5 credits spent" in mine
    export = admin.get(reverse("credits:team_export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [row["credits"] for row in rows] == ["1.5", "1.5", "1.5"]


def kept_answer(user, sandbox, **changes) -> Generation:
    return make_kept_answer(user, sandbox, key=SANDBOX_KEY, **changes)


@pytest.mark.parametrize(
    ("credits_used", "charged"),
    [
        (2.5, [D("1.25"), D("1.25")]),  # PixelDojo's word over our table (2)
        (1, [D("0.5"), D("0.5")]),
        (0.0001, [D("0.0001"), D("0")]),
        (0, [D("0"), D("0")]),
        (-3, [D("1"), D("1")]),  # not a usable charge: the table
        ("2.5", [D("1"), D("1")]),
        (None, [D("1"), D("1")]),
    ],
)
def test_the_charge_is_the_credits_used_pixeldojo_reports_when_it_is_a_number(
    alice, sandbox, settings, credits_used, charged
):
    generation = kept_answer(alice, sandbox, credits_used=credits_used)
    settings.SWEEP_STALE_SECONDS = 0
    assert services.sweep_stale_work()["answers_recorded"] == 1
    assert charges(generation) == charged


def test_the_balance_pixeldojo_reports_is_shown_with_the_time_it_came(alice, bob, sandbox, settings):
    team = make_team(alice, member=bob)
    settings.SWEEP_STALE_SECONDS = 0
    kept_answer(bob, sandbox, credits_used=2, credits_remaining=120)
    services.sweep_stale_work()
    kept_answer(bob, sandbox, credits_used=1.5, credits_remaining=118.5)
    kept_answer(bob, sandbox, credits_used=1, credits_remaining="lots")  # not a number: not recorded
    services.sweep_stale_work()

    balance = ProviderBalance.objects.latest()
    assert balance.credits == D("118.5") and ProviderBalance.objects.count() == 2
    expected = "PixelDojo balance: 118.5 credits (reported just now)."  # under a minute ago
    assert balance_shown(client_in(bob), "credits:mine") == expected
    assert balance_shown(client_in(alice, team), "credits:team") == expected


def test_the_credits_pixeldojo_reports_are_charged_even_when_our_table_differs(celery_worker, alice, sandbox):
    sandbox.configure(
        credits_style="reported",
        model_costs={"flux-pro": 2.5},
        keys={SANDBOX_KEY: KeyPlan(rpm=10_000, quota=100)},
    )
    generation = submit(alice, model="flux-pro", n=2)  # our table: 1 per image
    assert generation.price == D("2")
    wait_for(finished(generation), timeout=30)

    assert generation.status == Generation.Status.DONE, generation.error_message
    answer = json.loads(generation.provider_answer)
    assert answer["credits_used"] == 5
    assert charges(generation) == [D("2.5"), D("2.5")]
    balance = ProviderBalance.objects.latest()
    assert balance.credits == Decimal(str(answer["credits_remaining"]))
    shown = f"{plain(balance.credits)} credit{'' if balance.credits == 1 else 's'}"
    expected = f"PixelDojo balance: {shown} (reported just now)."
    assert balance_shown(client_in(alice), "credits:mine") == expected


def test_without_reported_credits_the_table_prices_the_charge(celery_worker, alice, sandbox):
    sandbox.configure(credits_style="none", model_costs={ULTRA: 4.0})
    generation = submit(alice, model=ULTRA, n=2)
    wait_for(finished(generation), timeout=30)

    assert "credits_used" not in json.loads(generation.provider_answer)
    assert charges(generation) == [D("1.5"), D("1.5")]
    assert not ProviderBalance.objects.exists()
