"""Credits are exact decimals: charges split to the last ten-thousandth, one way of showing them, the cost
table read from the environment, and the migrations that converted what was there."""

from __future__ import annotations

import csv
import io
import os
import runpy
from datetime import date
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.template import Context, Template
from django.urls import reverse

from credits.amounts import credits_label, format_credits, plain, reported, split, tidy
from credits.charts import bar_chart, daily_series
from credits.models import Budget, BudgetAlert, DailySpend, LedgerEntry, ProviderBalance
from credits.services import (
    budget_alerts_check,
    budget_set,
    ledger_charge_images,
    ledger_refund,
    ledger_top_up,
    provider_balance_record,
    spend_rollup_rebuild,
)
from generations.models import Generation
from generations.pixeldojo import model_cost
from generations.selectors import credits_reserved, credits_reserved_by_user
from tests.credits.helpers import _images, charge, client_in, ledger_spend, rollup_spend
from tests.library.factories import make_team

ROOT = Path(__file__).resolve().parents[2]
D = Decimal


# --- Amounts and how people see them ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (D("6.0000"), "6"),
        (D("1.5000"), "1.5"),
        (D("0.2500"), "0.25"),
        (D("0.0001"), "0.0001"),
        (D("600.0000"), "600"),
        (D("-3.0000"), "-3"),
        (D("-0.0000"), "0"),
        (D("1234567.5000"), "1234567.5"),
        (7, "7"),
    ],
)
def test_amounts_show_without_trailing_zeros_or_exponent(value, shown):
    assert plain(value) == format_credits(value) == str(tidy(value)) == shown
    rendered = Template("{% load credits %}{{ value|credits }}|{{ value|credits_plain }}").render(
        Context({"value": value})
    )
    assert rendered == f"{shown}|{shown}"


def test_sentences_group_thousands_and_agree_in_number():
    assert credits_label(D("1.0000")) == "1 credit"
    assert credits_label(D("1.5")) == "1.5 credits"
    assert credits_label(D("1234.5")) == "1,234.5 credits"
    assert credits_label(D("-1")) == "-1 credit"


@pytest.mark.parametrize(
    ("total", "parts"), [("5", 3), ("3", 2), ("0.0001", 3), ("10", 7), ("0", 4), ("1.2345", 4), ("100", 1)]
)
def test_a_total_splits_into_shares_that_sum_to_it_exactly(total, parts):
    shares = split(D(total), parts)
    assert len(shares) == parts and sum(shares) == D(total)
    assert all(share == share.quantize(D("0.0001")) and share >= 0 for share in shares)
    assert shares[1:] == [shares[-1]] * (parts - 1)  # the remainder goes on the first


@pytest.mark.parametrize(
    ("sent", "used", "balance"),
    [
        (3, D("3"), D("3")),
        (1.1, D("1.1"), D("1.1")),
        (0, D("0"), D("0")),
        (-2, None, D("-2")),  # no charge is negative; a balance may be
        (1.23456, D("1.2346"), D("1.2346")),
        (True, None, None),
        ("3", None, None),
        (None, None, None),
        (float("nan"), None, None),
        (float("inf"), None, None),
        (1e300, None, None),
        ({"credits": 3}, None, None),
    ],
)
def test_numbers_pixeldojo_sends_are_read_exactly_or_not_at_all(sent, used, balance):
    assert reported(sent) == used
    assert reported(sent, negative=True) == balance


# --- The ledger ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_charge_is_split_over_its_images_and_never_repeated(alice):
    team = make_team(alice)
    generation = Generation.objects.create(
        user=alice, team=team, prompt="p", model="flux-pro", num_outputs=3, status="generating"
    )
    images = _images(generation, 3)
    assert ledger_charge_images(generation=generation, images=images, credits=D("5")) == 3
    assert ledger_charge_images(generation=generation, images=images, credits=D("5")) == 0  # a retry
    rows = list(LedgerEntry.objects.order_by("image__index").values_list("credits", flat=True))
    assert rows == [D("1.6668"), D("1.6666"), D("1.6666")]
    assert ledger_spend() == rollup_spend() == D("5")
    with pytest.raises(ValueError, match="non-negative"):
        ledger_charge_images(generation=generation, images=_images(generation, 0), credits=D("-1"))
    for bad in (D("NaN"), D("Infinity"), "lots"):
        with pytest.raises(ValueError):
            ledger_charge_images(generation=generation, images=images, credits=bad)


@pytest.mark.django_db
def test_refunds_top_ups_and_budgets_take_decimals_and_refuse_nonsense(alice, bob):
    team = make_team(alice, member=bob)
    fox = charge(bob, team=team, n=2, cost="1.5")
    ledger_refund(actor=alice, user=bob, team=team, credits=D("0.75"), note="blurry", generation=fox)
    ledger_top_up(actor=alice, team=team, credits=D("99.5"))
    assert ledger_spend(team=team) == rollup_spend(team=team) == D("2.25")
    assert budget_set(actor=alice, team=team, monthly_credits=D("12.5")).monthly_credits == D("12.5")
    for credits in (D("0"), D("-1"), D("NaN"), D("Infinity")):
        with pytest.raises(ValueError):
            ledger_refund(actor=alice, user=bob, team=team, credits=credits, note="")
        with pytest.raises(ValueError):
            ledger_top_up(actor=alice, team=team, credits=credits)
    with pytest.raises(ValueError):
        budget_set(actor=alice, team=team, monthly_credits=D("-0.5"))
    assert LedgerEntry.objects.count() == 4
    before = set(DailySpend.objects.values_list("day", "team_id", "user_id", "model", "credits"))
    spend_rollup_rebuild()
    assert set(DailySpend.objects.values_list("day", "team_id", "user_id", "model", "credits")) == before


@pytest.mark.django_db
def test_an_alert_at_80_percent_of_a_fractional_budget_says_the_decimals(alice, bob, mailoutbox):
    alice.email = "alice@example.com"
    alice.save()
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=D("7.5"))
    charge(bob, team=team, n=3, cost="1.5")  # 4.5 of 7.5: 60 %
    assert budget_alerts_check(team_id=team.id, user_id=bob.id) == []
    charge(bob, team=team, n=1, cost="1.5")  # 6 of 7.5: 80 %
    assert [alert.threshold for alert in budget_alerts_check(team_id=team.id, user_id=bob.id)] == [80]
    alert = BudgetAlert.objects.get()
    assert (alert.spent, alert.limit) == (D("6"), D("7.5"))
    assert "has used 6 of 7.5 credits this month (80% threshold)" in mailoutbox[0].body
    html = client_in(alice, team).get(reverse("credits:team")).content.decode()
    assert 'data-testid="alert-amounts">6 / 7.5<' in html


@pytest.mark.django_db
def test_the_csv_writes_plain_decimal_strings(alice, bob):
    team = make_team(alice, member=bob)
    fox = charge(bob, team=team, n=2, cost="1.5")
    ledger_refund(actor=alice, user=bob, team=team, credits=D("0.25"), note="", generation=fox)
    ledger_top_up(actor=alice, team=team, credits=D("6"))
    response = client_in(alice, team).get(reverse("credits:team_export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(row["credits"] for row in rows) == ["-0.25", "1.5", "1.5", "6"]


def test_charts_place_fractional_days_exactly():
    start = date(2026, 11, 1)
    chart = bar_chart(
        daily_series(
            {start: D("0.2500"), date(2026, 11, 2): D("1.5000")}, start=start, end=date(2026, 11, 3)
        ),
        title="t",
    )
    assert [tick.label for tick in chart.y_ticks] == ["0", "1", "2"]
    quarter, one_and_a_half, zero = chart.bars
    assert (quarter.value, one_and_a_half.value, zero.value) == (D("0.25"), D("1.5"), D("0"))
    assert str(quarter.value) == "0.25" and one_and_a_half.title == "2 Nov 2026: 1.5 credits"
    assert one_and_a_half.height == pytest.approx(6 * quarter.height, abs=0.02)
    assert chart.total == D("1.75") and "1.75 credits in total, at most 1.5 credits on 2 Nov 2026" in (
        chart.description
    )


# --- Costs and reservations ----------------------------------------------------------------------------


def settings_with(**env: str) -> dict:
    """The settings module's names as ``pixelgallery/settings.py`` computes them from ``env``."""
    environment = {k: v for k, v in os.environ.items() if k != "PIXELDOJO_MODEL_COSTS"}
    with mock.patch.dict(os.environ, {**environment, **env}, clear=True):
        return runpy.run_path(str(ROOT / "pixelgallery" / "settings.py"), run_name="costs_probe")


def test_the_cost_table_comes_from_the_environment():
    assert settings_with()["PIXELDOJO_MODEL_COSTS"] == {"flux-1.1-pro-ultra": D("1.5")}
    costs = settings_with(
        PIXELDOJO_MODEL_COSTS=" flux-pro = 2.5 , flux-1.1-pro=0.0125,flux-dev-single-lora=0"
    )
    assert costs["PIXELDOJO_MODEL_COSTS"] == {
        "flux-pro": D("2.5"),
        "flux-1.1-pro": D("0.0125"),
        "flux-dev-single-lora": D("0"),
    }


@pytest.mark.parametrize(
    "garbage",
    [
        "flux-pro",
        "flux-pro=",
        "=2",
        "flux-pro=two",
        "flux-pro=-1",
        "flux-pro=NaN",
        "flux-pro=1.23456",
        "a=1,a=2",
    ],
)
def test_a_cost_table_that_cannot_be_read_stops_the_start_with_a_clear_error(garbage):
    with pytest.raises(ValueError, match="PIXELDOJO_MODEL_COSTS"):
        settings_with(PIXELDOJO_MODEL_COSTS=garbage)


def test_model_cost_reads_the_table_and_defaults_to_one(settings):
    assert model_cost("flux-1.1-pro-ultra") == D("1.5") and model_cost("flux-pro") == D("1")
    settings.PIXELDOJO_MODEL_COSTS = {"flux-pro": D("2.5")}
    assert model_cost("flux-pro") == D("2.5") and model_cost("flux-1.1-pro-ultra") == D("1")


@pytest.mark.django_db
def test_work_in_flight_reserves_its_price_and_unpriced_work_its_images_at_the_model_cost(alice, bob):
    team = make_team(alice, member=bob)

    def in_flight(user, model: str, n: int, price: str | None, **fields) -> None:
        Generation.objects.create(
            user=user, team=team, prompt="p", model=model, num_outputs=n, price=price, **fields
        )

    in_flight(alice, "flux-1.1-pro-ultra", 3, "4.5")
    in_flight(alice, "flux-1.1-pro-ultra", 2, None)  # recorded before prices: 2 x 1.5
    in_flight(bob, "flux-pro", 4, None)  # 4 x 1
    in_flight(bob, "flux-pro", 2, "0.5")
    in_flight(bob, "flux-pro", 4, "4", status="generating", provider_id="answered")  # not in flight
    in_flight(bob, "flux-pro", 4, "4", status="done")
    assert credits_reserved(team_id=team.id) == D("12")
    assert credits_reserved(team_id=team.id, user_id=alice.id) == D("7.5")
    assert credits_reserved_by_user(team_id=team.id) == {alice.id: D("7.5"), bob.id: D("4.5")}


# --- Migrations ----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migrations_convert_whole_credits_and_price_existing_work(alice):
    """Rows written as integers before credits were decimals read back as the same amounts; generations
    recorded before prices get 1 credit per image (the old cost)."""
    before = [
        ("credits", "0003_prompt_rollup_and_ledger_indexes"),
        ("generations", "0007_provider_details_price_called_at"),
    ]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        team = old.get_model("teams", "Team").objects.create(name="Old team", created_by_id=alice.id)
        Generation = old.get_model("generations", "Generation")
        generation = Generation.objects.create(
            user_id=alice.id, team_id=team.id, prompt="p", model="flux-1.1-pro-ultra", num_outputs=3
        )
        old.get_model("credits", "LedgerEntry").objects.create(
            user_id=alice.id, team_id=team.id, generation_id=generation.id, model="m", credits=3
        )
        old.get_model("credits", "DailySpend").objects.create(
            day=date(2026, 11, 1), user_id=alice.id, team_id=team.id, model="m", credits=3
        )
        budget = old.get_model("credits", "Budget").objects.create(team_id=team.id, monthly_credits=10)
        old.get_model("credits", "BudgetAlert").objects.create(
            budget_id=budget.id, month=date(2026, 11, 1), threshold=80, spent=8, limit=10
        )
    finally:  # forward to the latest migrations again, so later tests find today's schema
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert list(LedgerEntry.objects.values_list("credits", flat=True)) == [D("3")]
    assert list(DailySpend.objects.values_list("credits", flat=True)) == [D("3")]
    assert Budget.objects.get().monthly_credits == D("10")
    assert BudgetAlert.objects.values_list("spent", "limit").get() == (D("8"), D("10"))
    assert Generation.objects.get().price == D("3")  # 3 images x 1, the cost when it was submitted
    LedgerEntry.objects.create(user=alice, model="m", credits=D("0.0001"))
    assert ledger_spend() == D("3.0001")


@pytest.mark.django_db
def test_provider_balances_are_append_only(alice):
    balance = provider_balance_record(credits=D("118.5"))
    balance.credits = D("1")
    with pytest.raises(ValueError, match="append-only"):
        balance.save()
    with pytest.raises(ValueError, match="append-only"):
        balance.delete()
    assert ProviderBalance.objects.get().credits == D("118.5")
