"""The team's credits page in a real headless Chromium draws this month's forecast: a dashed line from now to
the end of the month (the end of the budget's period), over the budget line, with a text alternative."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from credits.selectors import month_end
from credits.services import budget_set
from pixelgallery.moments import day_text
from tests.credits.helpers import charge
from tests.credits.test_browser import log_in, switch_to
from tests.library.factories import make_team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def points(d: str) -> list[tuple[float, float]]:
    """The corners of an SVG path drawn with ``M x y L x y …``."""
    return [tuple(map(float, part.split())) for part in d.removeprefix("M ").split(" L ")]


def test_the_team_chart_draws_the_forecast_dashed_to_the_end_of_the_month(page, live_server, alice, bob):
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=100)
    charge(bob, team=team, n=2, cost=10)  # through the ledger's service: 20 today, 20/7 a day
    last = month_end(timezone.localdate())

    log_in(page, live_server, "alice", "/credits/")
    switch_to(page, "Studio")
    page.get_by_test_id("team-dashboard-link").click()
    chart = page.get_by_test_id("month-chart")
    svg = chart.locator("svg[role=img]")
    expect(svg).to_be_visible()

    dashed = svg.locator("path[stroke-dasharray]")
    expect(dashed).to_have_count(1)
    expect(dashed).to_be_visible()
    assert dashed.get_attribute("data-testid") == "forecast-line"
    (start_x, start_y), (end_x, end_y) = points(dashed.get_attribute("d"))
    axis = svg.get_by_test_id("month-axis")
    assert end_x == float(axis.get_attribute("x2"))  # the end of the axis is the end of the month
    assert svg.locator(".chart-x text").last.text_content() == f"{last.day} {last:%b}"
    assert end_x > start_x and end_y < start_y  # on to the right, and up: spend goes on
    assert points(svg.get_by_test_id("spend-line").get_attribute("d"))[-1] == (
        start_x,
        start_y,
    )  # continues it
    drawn, axis_box = dashed.bounding_box(), axis.bounding_box()
    assert drawn["width"] > 0 and abs((drawn["x"] + drawn["width"]) - (axis_box["x"] + axis_box["width"])) < 2
    expect(svg.get_by_test_id("budget-line")).to_be_attached()

    # The text alternative says what the lines show.
    description = svg.locator("> desc").text_content()
    assert "Credits spent this month: 20 credits" in description
    assert "At the last 7 days' rate (2.9 a day) that makes about" in description
    assert f"by {day_text(last)}, " in description and "budget of 100 credits" in description
    expect(chart.locator("figcaption")).to_contain_text("the dashed line, the forecast")
    expect(page.locator("tr[data-budget=team]").get_by_test_id("budget-forecast")).to_contain_text(
        "at the last 7 days' rate (2.9 a day)", ignore_case=True
    )
