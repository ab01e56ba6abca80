"""A budget's forecast: the day it runs out at the last 7 days' rate, from fixed moments (no wall clock), and
as the credits pages show it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal as D
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from credits.amounts import rough
from credits.charts import month_chart
from credits.selectors import (
    ForecastState,
    Periods,
    budget_forecast,
    forecast,
    month_end,
    team_dashboard,
    user_budgets,
)
from credits.services import budget_set
from pixelgallery.moments import day_text
from tests.credits.helpers import charge, client_in
from tests.library.factories import make_team

NOON_10_DEC = datetime(2026, 12, 10, 12, tzinfo=UTC)


# --- the pure forecast ---------------------------------------------------------------------------------


def test_a_budget_that_runs_out_this_month_says_the_day_and_the_rate():
    # 40 of 100 spent, 30 in the last 7 days: 4.2857 a day, the 60 left last 14 days from noon on the 10th.
    result = forecast(spent=D(40), recent=D(30), limit=D(100), now=NOON_10_DEC)
    assert result.state == ForecastState.THIS_MONTH and result.runs_out_this_month
    assert result.rate == D(30) / 7 and result.rate_label == "4.3"
    assert result.runs_out_on == date(2026, 12, 24)
    assert abs(result.runs_out_at - datetime(2026, 12, 24, 12, tzinfo=UTC)).total_seconds() < 1
    assert result.text == "At the last 7 days' rate (4.3 a day) this runs out on 24 Dec 2026."
    assert result.period_start == date(2026, 12, 1) and result.period_last_day == date(2026, 12, 31)


def test_a_budget_that_lasts_the_month_says_not_this_month():
    result = forecast(spent=D(40), recent=D(30), limit=D(1000), now=NOON_10_DEC)
    assert result.state == ForecastState.LATER and result.runs_out_at is None
    assert result.text == "Not this month at the last 7 days' rate (4.3 a day)."
    # 21.5 days to the end of the month at 30/7 a day, on top of the 40 spent
    assert abs(result.period_end_spend - (40 + D("21.5") * 30 / 7)) < D("0.0001")


def test_no_spend_in_the_last_7_days_gives_no_date():
    for spent, recent in ((D(0), D(0)), (D(50), D(0)), (D(50), D(-3))):  # a net refund is no spend either
        result = forecast(spent=spent, recent=recent, limit=D(100), now=NOON_10_DEC)
        assert result.state == ForecastState.IDLE and result.rate == 0 and result.runs_out_on is None
        assert result.text == "No spend in the last 7 days: no forecast."


def test_a_budget_already_used_up_has_no_forecast():
    for spent, limit in ((D(100), D(100)), (D("100.5"), D(100)), (D(0), D(0))):
        result = forecast(spent=spent, recent=D(70), limit=limit, now=NOON_10_DEC)
        assert result.state == ForecastState.USED_UP and not result.runs_out_this_month
        assert result.text == "Already used up this month."


def test_the_last_day_of_the_month_counts_hours_not_whole_days():
    # 1 credit left at 7 a day lasts 3.4 hours: from 06:00 it runs out on the 31st, from 22:00 next month.
    morning = forecast(spent=D(99), recent=D(49), limit=D(100), now=datetime(2026, 12, 31, 6, tzinfo=UTC))
    assert morning.state == ForecastState.THIS_MONTH and morning.runs_out_on == date(2026, 12, 31)
    night = forecast(spent=D(99), recent=D(49), limit=D(100), now=datetime(2026, 12, 31, 22, tzinfo=UTC))
    assert night.state == ForecastState.LATER
    # the first of the month starts a new period of its own
    first = forecast(spent=D(1), recent=D(49), limit=D(100), now=datetime(2027, 1, 1, 0, 30, tzinfo=UTC))
    assert first.period_start == date(2027, 1, 1) and first.runs_out_on == date(2027, 1, 15)


def test_periods_are_local_months(settings):
    settings.TIME_ZONE = "Pacific/Auckland"  # 31 Dec 20:00 UTC is already 1 Jan there
    result = forecast(spent=D(0), recent=D(7), limit=D(10), now=datetime(2026, 12, 31, 20, tzinfo=UTC))
    assert result.period_start == date(2027, 1, 1) and result.runs_out_on == date(2027, 1, 11)


def test_month_ends_and_rough_rates():
    assert [month_end(date(y, m, 15)) for y, m in ((2026, 2), (2028, 2), (2026, 4), (2026, 12))] == [
        date(2026, 2, 28),
        date(2028, 2, 29),
        date(2026, 4, 30),
        date(2026, 12, 31),
    ]
    assert [rough(D(x)) for x in ("4.2857", "12", "1204.66", "0.14286", "0.0028571", "0", "-1")] == [
        "4.3",
        "12",
        "1,204.7",
        "0.14",
        "0.0029",
        "0",
        "0",
    ]


# --- from the roll-up -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_rate_spans_the_month_boundary_and_member_budgets_count_only_the_member(alice, bob):
    team = make_team(alice, member=bob)
    charge(alice, team=team, cost=20, day=date(2030, 12, 27))  # 8 days before: neither month nor rate
    charge(alice, team=team, cost=10, day=date(2030, 12, 29))  # last month: in the rate, not the spend
    charge(bob, team=team, cost=4, day=date(2031, 1, 2))
    charge(alice, team=team, cost=3, day=date(2031, 1, 4))
    charge(bob, n=2, cost=50, day=date(2031, 1, 3))  # personal work: no team budget counts it
    team_budget = budget_set(actor=alice, team=team, monthly_credits=20)
    bob_budget = budget_set(actor=alice, team=team, user=bob, monthly_credits=5)
    now = datetime(2031, 1, 4, 12, tzinfo=UTC)

    whole = budget_forecast(budget=team_budget, now=now)
    assert (whole.spent, whole.rate) == (7, D(17) / 7)  # 13 left at 17/7 a day: 5.35 days
    assert whole.runs_out_on == date(2031, 1, 9)
    bobs = budget_forecast(budget=bob_budget, now=now)
    assert (bobs.spent, bobs.rate) == (4, D(4) / 7) and bobs.runs_out_on == date(2031, 1, 6)  # 1.75 days

    later = budget_forecast(budget=team_budget, now=datetime(2031, 1, 10, 12, tzinfo=UTC))
    assert later.spent == 7 and later.rate == D(3) / 7 and later.state == ForecastState.LATER
    idle = budget_forecast(budget=bob_budget, now=datetime(2031, 1, 20, 12, tzinfo=UTC))
    assert idle.state == ForecastState.IDLE

    # The team's page computes the same forecasts from its own queries.
    dashboard = team_dashboard(
        team=team, periods=Periods.ending(date(2031, 1, 4), days=30), reserved={}, now=now
    )
    assert dashboard.team_budget.forecast == whole
    [bob_status] = dashboard.member_budgets
    assert bob_status.forecast == bobs
    # And so does bob's own page: his budget, and the team's (he generates in it).
    mine = user_budgets(user_id=bob.id, team_ids=[team.id], generating_team_ids=[team.id], now=now)
    assert [(s.budget.user_id, s.forecast) for s in mine] == [(None, whole), (bob.id, bobs)]
    assert (
        user_budgets(user_id=bob.id, team_ids=[team.id], generating_team_ids=[], now=now)[0].forecast == bobs
    )


def test_the_month_chart_runs_to_the_end_of_the_month():
    now = datetime(2026, 12, 10, 12, tzinfo=UTC)
    days = {date(2026, 12, 1): D(10), date(2026, 12, 4): D(30), date(2026, 12, 10): D(2)}
    chart = month_chart(
        days, now=now, rate=D(30) / 7, limit=D(100), runs_out_on=date(2026, 12, 24), title="t"
    )
    start, end = chart.forecast_path.removeprefix("M ").split(" L ")
    assert start == f"{chart.now_x} {chart.now_y}" and end == f"{chart.right} {chart.end_y}"
    # now is 9.5 days into a 31-day month
    assert abs(chart.now_x - (chart.left + 9.5 / 31 * (chart.right - chart.left))) < 0.01
    assert chart.spent_path.endswith(f"L {chart.now_x} {chart.now_y}")
    assert [point.total for point in chart.points][-1] == 42 and len(chart.points) == 10
    assert chart.end_total == pytest.approx(D(42) + D("21.5") * 30 / 7, abs=D("0.001"))
    assert chart.budget_y is not None and chart.budget_y > chart.end_y  # lower down: 100 under about 134
    assert "it runs out on 24 Dec 2026" in chart.description and "about 134.1 credits" in chart.description
    assert [label.label for label in chart.x_labels] == ["1 Dec", "8 Dec", "15 Dec", "22 Dec", "31 Dec"]

    bare = month_chart({}, now=now, rate=D(0), limit=None, title="t")
    assert bare.budget_y is None and bare.end_y == bare.now_y == bare.baseline
    assert "(no team budget)" in bare.description


# --- pages (the wall clock: amounts chosen so the day cannot change in between) --------------------------

pages = pytest.mark.django_db


def forecast_cell(html: str, row: str) -> str:
    found = re.search(rf'<tr data-budget="{re.escape(row)}">.*?budget-forecast">(.*?)</span>', html, re.S)
    assert found, f"no forecast in row {row}"
    return re.sub(r"<[^>]+>", "", unescape(found.group(1)))


@pages
def test_every_budget_row_shows_its_forecast(alice, bob, make_user):
    carol, dave = make_user("carol"), make_user("dave")
    team = make_team(alice, member=bob, viewer=dave)
    make_team(carol, name="Elsewhere", member=bob)
    budget_set(actor=alice, team=team, monthly_credits=1_000_000_000)
    budget_set(actor=alice, team=team, user=bob, monthly_credits=100_000)
    budget_set(actor=alice, team=team, user=dave, monthly_credits=5)
    charge(bob, team=team, cost="99999.9999")  # 0.0001 left at 14,286 a day: gone in under a millisecond
    charge(alice, team=team, cost=7000)
    today = timezone.localdate()

    html = client_in(alice, team).get(reverse("credits:team")).content.decode()
    assert (
        forecast_cell(html, "bob")
        == f"At the last 7 days' rate (14,285.7 a day) this runs out on {day_text(today)}"
    )
    assert forecast_cell(html, "team") == "Not this month at the last 7 days' rate (15,285.7 a day)"
    assert forecast_cell(html, "dave") == "No spend in the last 7 days: no forecast"
    assert 'data-testid="forecast-line"' in html and 'stroke-dasharray="6 5"' in html

    mine = client_in(bob).get(reverse("credits:mine")).content.decode()
    assert forecast_cell(mine, "Studio:mine").startswith("At the last 7 days' rate (14,285.7 a day)")
    assert forecast_cell(mine, "Studio:team").startswith("Not this month")
    assert 'data-budget="Elsewhere:' not in mine  # no budget there
    viewer = client_in(dave).get(reverse("credits:mine")).content.decode()
    assert forecast_cell(viewer, "Studio:mine") == "No spend in the last 7 days: no forecast"
    assert (
        'data-budget="Studio:team"' not in viewer
    )  # a viewer spends nothing: the team's budget is not theirs

    budget_set(actor=alice, team=team, user=bob, monthly_credits=9)
    html = client_in(alice, team).get(reverse("credits:team")).content.decode()
    assert forecast_cell(html, "bob") == "Already used up this month"
    assert 'data-testid="no-budgets"' in client_in(carol).get(reverse("credits:mine")).content.decode()


def queries(client, url: str) -> int:
    client.get(url)  # warm: the header's values are cached from the first request on
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


@pages
def test_my_page_costs_the_same_with_one_budget_or_many(alice, bob, make_user):
    first = make_team(alice, member=bob)
    budget_set(actor=alice, team=first, user=bob, monthly_credits=10)
    charge(bob, team=first)
    client = client_in(bob)
    one = queries(client, reverse("credits:mine"))
    for n in range(4):
        team = make_team(make_user(f"owner{n}"), name=f"Team {n}", member=bob)
        budget_set(actor=team.created_by, team=team, monthly_credits=50)
        budget_set(actor=team.created_by, team=team, user=bob, monthly_credits=20)
        charge(bob, team=team, n=3)
        charge(team.created_by, team=team, n=2)
    assert queries(client, reverse("credits:mine")) == one
    assert client.get(reverse("credits:mine")).content.decode().count('data-testid="budget-forecast"') == 9
