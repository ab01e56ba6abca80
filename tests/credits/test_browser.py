"""Credits in a real headless Chromium: the charts, an admin setting a budget, a member refused by it."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from credits.models import Budget
from credits.services import budget_set
from generations.models import Generation
from pixelgallery.moments import day_text
from tests.conftest import PASSWORD
from tests.credits.helpers import charge, days_ago
from tests.library.factories import make_team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console_errors(page) -> list[str]:
    """Console errors (a Content-Security-Policy violation shows up here) collected during the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def log_in(page, live_server, username: str, next_path: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}{next_path}")


def switch_to(page, team_name: str) -> None:
    page.get_by_test_id("team-switcher").select_option(label=team_name)
    expect(page.get_by_test_id("active-role")).to_be_visible()


def expect_chart(page, testid: str, *, days: int, tooltips: dict[str, str]) -> None:
    chart = page.get_by_test_id(testid)
    svg = chart.locator("svg[role=img]")
    expect(svg).to_be_visible()
    expect(svg.locator("> title")).to_have_count(1)
    expect(svg.locator("> desc")).to_have_count(1)
    bars = svg.locator("rect.bar")
    expect(bars).to_have_count(days)
    for day, tooltip in tooltips.items():
        bar = svg.locator(f"rect.bar[data-day='{day}']")
        expect(bar).to_be_visible()
        assert bar.locator("title").text_content() == tooltip
        box = bar.bounding_box()
        assert box is not None and box["height"] > 5 and box["width"] > 2
    expect(svg.locator("line.gridline").first).to_be_attached()
    expect(svg.locator("text.axis-label").first).to_be_visible()


def test_charts_render_and_an_admin_sets_a_budget(page, live_server, console_errors, alice, bob):
    team = make_team(alice, member=bob)
    today = timezone.localdate()
    charge(alice, team=team, n=3, prompt="a harbour at dusk")
    charge(alice, n=2, prompt="personal", day=days_ago(5))
    charge(bob, team=team, n=4, prompt="a red fox", model="flux-1.1-pro", day=days_ago(2))
    charge(bob, team=team, n=6, prompt="older fox", day=days_ago(45))

    log_in(page, live_server, "alice", "/credits/")
    expect(page.get_by_test_id("spend-today").locator("strong")).to_have_text("3")
    expect_chart(
        page,
        "spend-chart",
        days=30,
        tooltips={
            today.isoformat(): f"{day_text(today)}: 3 credits",
            days_ago(5).isoformat(): f"{day_text(days_ago(5))}: 2 credits",
        },
    )

    switch_to(page, "Studio")
    page.get_by_test_id("team-dashboard-link").click()
    expect(page.locator("h1")).to_have_text("Studio: credits")
    expect_chart(
        page,
        "team-chart",
        days=30,
        tooltips={
            today.isoformat(): f"{day_text(today)}: 3 credits",
            days_ago(2).isoformat(): f"{day_text(days_ago(2))}: 4 credits",
        },
    )
    expect(page.get_by_test_id("top-prompts").locator("tbody tr")).to_have_count(2)

    page.get_by_test_id("window-90").click()
    expect(page).to_have_url(f"{live_server.url}/credits/team/?days=90")
    expect_chart(
        page,
        "team-chart",
        days=90,
        tooltips={days_ago(45).isoformat(): f"{day_text(days_ago(45))}: 6 credits"},
    )
    expect(page.get_by_test_id("top-prompts").locator("tbody tr").first).to_contain_text("older fox")

    # The budget form: an error beside the field first, then a budget that shows with its progress bar.
    page.select_option("#id_scope", "team")
    page.fill("#id_monthly_credits", "-4")
    page.click("button:has-text('Save budget')")
    expect(page.locator("[data-field=monthly_credits] .error")).to_contain_text("cannot be negative")
    assert not Budget.objects.exists()

    page.fill("#id_monthly_credits", "20")
    page.click("button:has-text('Save budget')")
    expect(page.locator(".flash")).to_contain_text("Studio's monthly budget is now 20 credits.")
    row = page.locator("tr[data-budget=team]")
    expect(row.get_by_test_id("budget-limit")).to_have_text("20")
    expect(row.get_by_test_id("budget-used")).to_have_text(
        str(3 + (4 if days_ago(2).month == today.month else 0))
    )
    expect(row.locator("progress")).to_be_visible()
    assert Budget.objects.get(team=team, user=None).monthly_credits == 20

    page.select_option("#id_scope", "bob")
    page.fill("#id_monthly_credits", "5")
    page.click("button:has-text('Save budget')")
    expect(page.locator("tr[data-budget=bob] [data-testid=budget-limit]")).to_have_text("5")
    page.locator("tr[data-budget=bob]").get_by_role("button", name="Remove").click()
    expect(page.locator(".flash")).to_contain_text("Removed bob's monthly budget.")
    expect(page.locator("tr[data-budget=bob]")).to_have_count(0)
    assert [m for m in console_errors if "Content Security Policy" in m] == []


def test_a_member_over_the_team_budget_is_refused_and_nothing_is_queued(page, live_server, alice, bob):
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=2)
    charge(alice, team=team, n=2)  # the whole budget is spent
    before = Generation.objects.count()

    log_in(page, live_server, "bob", "/")
    switch_to(page, "Studio")
    page.fill("#id_prompt", "a lighthouse over the budget")
    page.select_option("#id_num_outputs", "1")
    page.click("button:has-text('Generate')")

    refusal = page.locator(".form-errors")
    expect(refusal).to_contain_text("monthly budget")
    expect(refusal).to_contain_text("only 0 of Studio's monthly budget of 2 are left")
    expect(page.locator("#id_prompt")).to_have_value("a lighthouse over the budget")  # nothing lost
    assert Generation.objects.count() == before
    assert not Generation.objects.filter(prompt="a lighthouse over the budget").exists()


def test_the_price_follows_the_model_and_the_number_of_images_as_they_change(
    page, live_server, console_errors, alice, bob
):
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=5)
    log_in(page, live_server, "bob", "/generate/")
    price = page.get_by_test_id("price")
    expect(price).to_have_text("Price: 1 \N{MULTIPLICATION SIGN} 1 = 1 credit")

    page.select_option("#id_model", "flux-1.1-pro-ultra")
    expect(price).to_have_text("Price: 1 \N{MULTIPLICATION SIGN} 1.5 = 1.5 credits")
    page.select_option("#id_num_outputs", "4")
    expect(price).to_have_text("Price: 4 \N{MULTIPLICATION SIGN} 1.5 = 6 credits")
    page.select_option("#id_num_outputs", "3")
    expect(price).to_have_text("Price: 3 \N{MULTIPLICATION SIGN} 1.5 = 4.5 credits")
    page.select_option("#id_model", "flux-pro")
    expect(price).to_have_text("Price: 3 \N{MULTIPLICATION SIGN} 1 = 3 credits")

    # Refused by the budget: the page comes back with the choice that was refused, and its price.
    switch_to(page, "Studio")
    page.goto(f"{live_server.url}/generate/")
    page.fill("#id_prompt", "a lighthouse of ultra quality")
    page.select_option("#id_model", "flux-1.1-pro-ultra")
    page.select_option("#id_num_outputs", "4")
    page.click("button:has-text('Generate')")
    expect(page.locator(".form-errors")).to_contain_text("This needs 6 credits but only 5 of Studio's")
    expect(page.get_by_test_id("price")).to_have_text("Price: 4 \N{MULTIPLICATION SIGN} 1.5 = 6 credits")
    page.select_option("#id_num_outputs", "3")
    expect(page.get_by_test_id("price")).to_have_text("Price: 3 \N{MULTIPLICATION SIGN} 1.5 = 4.5 credits")
    page.click("button:has-text('Generate')")
    expect(page.locator(".flash")).to_contain_text("Queued")
    assert Generation.objects.get(prompt="a lighthouse of ultra quality").price == 4.5
    assert console_errors == []
