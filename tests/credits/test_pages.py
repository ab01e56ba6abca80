"""The credits pages with real ledger data: the numbers match the ledger, only admins see the team's page."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from credits.models import Budget, BudgetAlert, LedgerEntry
from credits.selectors import Periods
from credits.services import budget_alerts_check, budget_set, ledger_refund, ledger_top_up
from generations.models import Generation, ProviderPause
from pixelgallery.moments import absolute_text, day_text
from tests.credits.helpers import charge, charge_in_bulk, client_in, days_ago, ledger_spend, rollup_spend
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db

MINE = reverse("credits:mine")
TEAM = reverse("credits:team")


@pytest.fixture
def people(make_user):
    return {name: make_user(name) for name in ("alice", "bob", "carol", "dave", "eve")}


@pytest.fixture
def team(people):
    """alice owns it, carol is an admin, bob a member, dave a viewer; eve is not in it."""
    return make_team(people["alice"], admin=people["carol"], member=people["bob"], viewer=people["dave"])


def page(client, url: str, **params) -> str:
    return unescape(client.get(url, params).content.decode())


def number(html: str, testid: str) -> int:
    found = re.search(rf'data-testid="{testid}"[^>]*>\s*<strong>(-?\d+)</strong>', html)
    assert found, f"no {testid} stat"
    return int(found.group(1))


def decimal_stat(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>\s*<strong>([^<]+)</strong>', html)
    assert found, f"no {testid} stat"
    return found.group(1)


def table_cells(html: str, testid: str) -> dict[str, str]:
    """``label → credits`` text of a table (first cell → the cell marked data-testid="credits")."""
    table = re.search(rf'<table[^>]*data-testid="{testid}".*?</table>', html, re.S)
    assert table, f"no {testid} table"
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(0), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        credits = re.search(r'data-testid="credits">([^<]*)<', row)
        if cells and credits:
            label = re.sub(r"<[^>]+>", "", cells[0]).replace("(you)", "").strip()
            if label.isdigit():
                label = re.sub(r"<[^>]+>", "", cells[1]).strip()
            rows[label] = credits.group(1)
    return rows


def table_rows(html: str, testid: str) -> dict[str, int]:
    """``label → credits`` of a table (first cell → the cell marked data-testid="credits")."""
    table = re.search(rf'<table[^>]*data-testid="{testid}".*?</table>', html, re.S)
    assert table, f"no {testid} table"
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(0), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        credits = re.search(r'data-testid="credits">(-?\d+)<', row)
        if cells and credits:
            label = re.sub(r"<[^>]+>", "", cells[0]).replace("(you)", "").strip()
            if label.isdigit():  # the top prompts start with their rank
                label = re.sub(r"<[^>]+>", "", cells[1]).strip()
            rows[label] = int(credits.group(1))
    return rows


def bar_titles(html: str, testid: str) -> list[str]:
    figure = re.search(rf'<figure class="chart" data-testid="{testid}">.*?</svg>', html, re.S)
    assert figure, f"no chart {testid}"
    return re.findall(r'<rect class="bar[^"]*"[^>]*><title>([^<]+)</title></rect>', figure.group(0))


# --- your own credits ---------------------------------------------------------------------------------


def test_my_page_sums_today_week_month_and_models_from_every_team_and_personal_work(people, team):
    alice = people["alice"]
    periods = Periods.ending(timezone.localdate(), days=30)
    fox = charge(alice, team=team, n=3, prompt="a fox")
    charge(alice, n=2, model="flux-1.1-pro")  # personal
    ledger_refund(actor=people["carol"], user=alice, team=team, credits=1, note="blurry", generation=fox)
    charge(alice, team=team, n=5, day=days_ago(40))  # before this month and week
    charge(people["bob"], team=team, n=7)  # someone else's spend
    monday = periods.week
    if monday != periods.today:
        charge(alice, team=team, n=4, model="flux-1.1-pro-ultra", day=monday)

    html = client_in(alice).get(MINE).content.decode()

    today = timezone.localdate()
    expect_today = ledger_spend(user=alice, created_at__date=today)
    expect_week = ledger_spend(user=alice, created_at__date__gte=periods.week)
    expect_month = ledger_spend(user=alice, created_at__date__gte=periods.month)
    assert expect_today == 3 + 2 - 1
    assert number(html, "spend-today") == expect_today
    assert number(html, "spend-week") == expect_week
    assert number(html, "spend-month") == expect_month
    by_model = table_rows(html, "by-model")
    assert by_model["flux-pro"] == ledger_spend(
        user=alice, model="flux-pro", created_at__date__gte=periods.month
    )
    assert by_model["flux-1.1-pro"] == 2
    assert sum(by_model.values()) == expect_month
    by_team = table_rows(html, "by-team")
    assert by_team["Personal"] == 2 and by_team["Studio"] == expect_month - 2
    titles = bar_titles(html, "spend-chart")
    assert len(titles) == 30
    assert titles[-1] == f"{day_text(today)}: 4 credits"
    assert rollup_spend(user=alice) == ledger_spend(user=alice)  # the page reads the roll-up: still in step


def test_my_page_chart_covers_ninety_days_on_request(people):
    alice = people["alice"]
    charge(alice, n=2, day=days_ago(60))
    html = client_in(alice).get(MINE, {"days": 90}).content.decode()
    titles = bar_titles(html, "spend-chart")
    assert len(titles) == 90
    assert f"{day_text(days_ago(60))}: 2 credits" in titles
    assert len(bar_titles(client_in(alice).get(MINE, {"days": "7"}).content.decode(), "spend-chart")) == 30


def test_my_page_says_when_pixeldojo_reported_the_quota_exhausted(people):
    client = client_in(people["alice"])
    assert "no exhaustion reported" in client.get(MINE).content.decode()

    old = ProviderPause.objects.create(message="out", paused_until=timezone.now() - timedelta(days=39))
    ProviderPause.objects.filter(id=old.id).update(paused_at=timezone.now() - timedelta(days=40))
    assert "no exhaustion reported" in client.get(MINE).content.decode()  # older than 30 days

    pause = ProviderPause.objects.create(
        message="Quota exceeded", paused_until=timezone.now() + timedelta(hours=1)
    )
    html = client.get(MINE).content.decode()
    stamp = absolute_text(pause.paused_at)
    assert f"PixelDojo reported the quota exhausted at {stamp}" in re.sub(r"<[^>]+>", "", html)  # as read
    assert 'class="quota quota-active" role="alert"' in html and "New prompts are paused" in html

    ProviderPause.objects.filter(id=pause.id).update(cleared_at=timezone.now())
    html = re.sub(r"<[^>]+>", "", client.get(MINE).content.decode())
    assert f"PixelDojo reported the quota exhausted at {stamp}" in html and "An operator resumed" in html


# --- the team's dashboard -----------------------------------------------------------------------------


def test_team_dashboard_numbers_match_the_ledger(people, team, mailoutbox):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    periods = Periods.ending(timezone.localdate(), days=30)
    fox = charge(bob, team=team, n=4, prompt="a red fox", model="flux-1.1-pro")
    charge(bob, team=team, n=2, prompt="a red fox")
    charge(alice, team=team, n=3, prompt="a harbour", day=days_ago(2))
    charge(carol, team=team, n=1, prompt="a lighthouse", day=days_ago(20))
    charge(carol, team=team, n=9, prompt="an old prompt", day=days_ago(60))  # outside the 30-day window
    charge(alice, n=6, prompt="personal work")  # not the team's
    ledger_refund(actor=alice, user=bob, team=team, credits=1, note="blurry", generation=fox)
    ledger_top_up(actor=alice, team=team, credits=100, note="plan")
    budget_set(actor=alice, team=team, monthly_credits=20)
    budget_set(actor=alice, team=team, user=bob, monthly_credits=5)
    Generation.objects.create(user=bob, team=team, prompt="queued", model="flux-pro", num_outputs=2)
    budget_alerts_check(team_id=team.id, user_id=bob.id)

    html = client_in(alice, team).get(TEAM).content.decode()

    month_spend = ledger_spend(team=team, created_at__date__gte=periods.month)
    assert number(html, "team-month") == month_spend
    by_member = table_rows(html, "by-member")
    for user in (alice, bob, carol):
        expected = ledger_spend(team=team, user=user, created_at__date__gte=periods.month)
        assert by_member[user.username] == expected
    assert by_member["dave"] == 0  # members who spent nothing are listed too
    by_model = table_rows(html, "by-model")
    assert sum(by_model.values()) == month_spend
    assert by_model["flux-1.1-pro"] == 3

    top = table_rows(html, "top-prompts")
    assert list(top) == ["a red fox", "a harbour", "a lighthouse"]  # by spend in the window, refund counted
    assert top == {"a red fox": 4 + 2 - 1, "a harbour": 3, "a lighthouse": 1}
    assert "personal work" not in html and "an old prompt" not in html

    titles = bar_titles(html, "team-chart")
    assert len(titles) == 30
    assert f"{day_text(days_ago(2))}: 3 credits" in titles
    assert f"{day_text(days_ago(20))}: 1 credit" in titles

    budgets = re.search(r'data-testid="budgets".*?</table>', html, re.S).group(0)
    team_row = re.search(r'<tr data-budget="team">.*?</tr>', budgets, re.S).group(0)
    bob_row = re.search(r'<tr data-budget="bob">.*?</tr>', budgets, re.S).group(0)
    assert int(re.search(r'budget-used">(\d+)<', team_row).group(1)) == month_spend
    assert re.search(r'budget-reserved">(\d+)<', team_row).group(1) == "2"
    assert re.search(r'budget-limit">(\d+)<', team_row).group(1) == "20"
    bob_month = ledger_spend(team=team, user=bob, created_at__date__gte=periods.month)
    assert int(re.search(r'budget-used">(\d+)<', bob_row).group(1)) == bob_month
    assert bob_month == 5 and "140 %" in bob_row  # 5 spent + 2 reserved of 5
    assert '<progress class="budget-progress state-over" max="5" value="5"' in bob_row

    spent_ever = ledger_spend(team=team)
    assert int(re.search(r'allowance-remaining">(-?\d+)<', html).group(1)) == 100 - spent_ever
    assert "allowance-low" not in html  # 100 - 18 = 82: above 50 and above 10 %

    alerts = re.search(r'data-testid="alerts".*?</table>', html, re.S).group(0)
    assert BudgetAlert.objects.filter(budget__user=bob).count() == 2
    assert alerts.count('<tr class="alert-current">') == 2 and "100 %" in alerts and "80 %" in alerts


def test_allowance_below_fifty_credits_or_ten_percent_of_top_ups_is_flagged(people, team):
    alice = people["alice"]
    ledger_top_up(actor=alice, team=team, credits=60)
    charge(alice, team=team, n=5)
    html = client_in(alice, team).get(TEAM).content.decode()
    assert "allowance-low" not in html  # 55 left
    charge(alice, team=team, n=6)
    html = client_in(alice, team).get(TEAM).content.decode()
    assert "allowance-low" in html and "Running low" in html  # 49 left
    ledger_top_up(actor=alice, team=team, credits=1000)
    charge_in_bulk(alice, team=team, n=1000)
    html = client_in(alice, team).get(TEAM).content.decode()
    assert re.search(r'allowance-remaining">(-?\d+)<', html).group(1) == "49"
    assert "allowance-low" in html


def test_top_prompts_follow_the_chosen_window(people, team):
    alice = people["alice"]
    charge(alice, team=team, n=5, prompt="sixty days ago", day=days_ago(60))
    charge(alice, team=team, n=1, prompt="yesterday", day=days_ago(1))
    client = client_in(alice, team)
    assert table_rows(client.get(TEAM).content.decode(), "top-prompts") == {"yesterday": 1}
    html = client.get(TEAM, {"days": 90}).content.decode()
    assert table_rows(html, "top-prompts") == {"sixty days ago": 5, "yesterday": 1}
    assert len(bar_titles(html, "team-chart")) == 90


def test_former_members_spend_still_counts(people, team):
    charge(people["bob"], team=team, n=2)
    team.memberships.filter(user=people["bob"]).delete()
    html = client_in(people["alice"], team).get(TEAM).content.decode()
    assert table_rows(html, "by-member")["bob"] == 2 and "Former member" in html


# --- who may see the team's page ----------------------------------------------------------------------

TEAM_URLS = [
    ("get", "credits:team", {}),
    ("get", "credits:team_export", {}),
    ("post", "credits:team_budget", {"scope": "team", "monthly_credits": "5"}),
    ("post", "credits:team_top_up", {"credits": "5"}),
]


@pytest.mark.parametrize(("method", "name", "data"), TEAM_URLS)
@pytest.mark.parametrize(("who", "status"), [("alice", 200), ("carol", 200), ("bob", 403), ("dave", 403)])
def test_only_admins_and_owners_reach_the_team_pages(people, team, method, name, data, who, status):
    response = getattr(client_in(people[who], team), method)(reverse(name), data)
    if method == "post" and status == 200:
        assert response.status_code == 302
    else:
        assert response.status_code == status
    if status == 403:
        assert not Budget.objects.exists() and not LedgerEntry.objects.exists()


@pytest.mark.parametrize(("method", "name", "data"), TEAM_URLS)
def test_a_team_you_are_not_in_is_not_found(people, team, method, name, data):
    response = getattr(client_in(people["eve"], code=str(team.code)), method)(reverse(name), data)
    assert response.status_code == 404
    assert b"Studio" not in response.content
    assert not Budget.objects.exists() and not LedgerEntry.objects.exists()


@pytest.mark.parametrize(("method", "name", "data"), TEAM_URLS)
def test_without_an_active_team_you_go_back_to_your_credits(people, method, name, data):
    response = getattr(client_in(people["alice"]), method)(reverse(name), data)
    assert response.status_code == 302 and response["Location"] == MINE
    assert "Pick a team" in next(str(m) for m in get_messages(response.wsgi_request))


def test_anonymous_visitors_are_asked_to_log_in(client):
    for url in (MINE, TEAM, reverse("credits:team_export")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_my_page_links_to_the_team_dashboard_only_for_admins(people, team):
    link = 'data-testid="team-dashboard-link"'
    assert link in page(client_in(people["carol"], team), MINE)
    assert link not in page(client_in(people["bob"], team), MINE)


def test_the_header_links_the_credit_pill_and_nav_to_the_credits_page(people):
    html = client_in(people["alice"]).get(MINE).content.decode()
    assert f'<a class="credits" href="{MINE}" data-testid="credits-total"' in html
    assert f'<a href="{MINE}">Credits</a>' in html


# --- forms --------------------------------------------------------------------------------------------


def test_admin_sets_changes_and_removes_the_team_budget(people, team):
    client = client_in(people["carol"], team)
    response = client.post(reverse("credits:team_budget"), {"scope": "team", "monthly_credits": "250"})
    assert response.status_code == 302 and response["Location"] == TEAM + "#budgets"
    budget = Budget.objects.get(team=team, user=None)
    assert budget.monthly_credits == 250 and budget.updated_by == people["carol"]
    assert "Studio's monthly budget is now 250 credits." in page(client, TEAM)

    client.post(reverse("credits:team_budget"), {"scope": "team", "monthly_credits": "300"})
    assert Budget.objects.get(team=team, user=None).monthly_credits == 300

    response = client.post(reverse("credits:team_budget"), {"scope": "team", "remove": "1"})
    assert response.status_code == 302 and not Budget.objects.exists()
    assert "Removed Studio's monthly budget." in page(client, TEAM)


def test_admin_sets_and_removes_a_member_budget(people, team):
    client = client_in(people["alice"], team)
    client.post(reverse("credits:team_budget"), {"scope": "bob", "monthly_credits": "0"})
    assert Budget.objects.get(team=team, user=people["bob"]).monthly_credits == 0
    html = client.get(TEAM).content.decode()
    assert '<tr data-budget="bob">' in html
    client.post(reverse("credits:team_budget"), {"scope": "bob", "remove": "1", "monthly_credits": ""})
    assert not Budget.objects.exists()


def test_a_budget_of_someone_who_left_can_be_removed_but_not_changed(people, team):
    bob = people["bob"]
    budget_set(actor=people["alice"], team=team, user=bob, monthly_credits=4)
    team.memberships.filter(user=bob).delete()
    client = client_in(people["alice"], team)
    html = page(client, TEAM)
    assert '<tr data-budget="bob">' in html and "no longer a member" in html
    response = client.post(reverse("credits:team_budget"), {"scope": "bob", "monthly_credits": "9"})
    assert "their budget can only be removed" in unescape(response.content.decode())
    assert Budget.objects.get().monthly_credits == 4
    response = client.post(reverse("credits:team_budget"), {"scope": "bob", "remove": "1"})
    assert response.status_code == 302 and not Budget.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"scope": "team", "monthly_credits": "-5"}, "monthly_credits", "cannot be negative"),
        ({"scope": "team", "monthly_credits": "lots"}, "monthly_credits", "Enter a number of credits"),
        ({"scope": "team", "monthly_credits": "NaN"}, "monthly_credits", "Enter a number of credits"),
        ({"scope": "team", "monthly_credits": "Infinity"}, "monthly_credits", "Enter a number of credits"),
        ({"scope": "team", "monthly_credits": "-0.5"}, "monthly_credits", "cannot be negative"),
        ({"scope": "team", "monthly_credits": "1.23456"}, "monthly_credits", "at most 4 decimal places"),
        ({"scope": "team", "monthly_credits": "20000000"}, "monthly_credits", "at most 10,000,000"),
        ({"scope": "team", "monthly_credits": ""}, "monthly_credits", "or remove the budget"),
        ({"scope": "eve", "monthly_credits": "5"}, "scope", "Select a valid choice"),
    ],
)
def test_budget_form_errors_appear_beside_the_field(people, team, data, field, message):
    response = client_in(people["alice"], team).post(reverse("credits:team_budget"), data)
    assert response.status_code == 200
    html = response.content.decode()
    block = re.search(rf'<div class="field has-error" data-field="{field}">.*?</div>', html, re.S)
    assert block and message in block.group(0)
    assert not Budget.objects.exists()


def test_budgets_and_top_ups_take_decimals_and_show_them_without_trailing_zeros(people, team):
    client = client_in(people["alice"], team)
    response = client.post(reverse("credits:team_budget"), {"scope": "team", "monthly_credits": "12.5"})
    assert response.status_code == 302
    assert Budget.objects.get().monthly_credits == Decimal("12.5")
    response = client.post(reverse("credits:team_top_up"), {"credits": "100.25", "note": ""})
    assert response.status_code == 302
    charge(people["bob"], team=team, n=3, cost="1.5", prompt="a fox")  # 4.5
    html = page(client, TEAM)
    assert "Studio's monthly budget is now 12.5 credits." in html
    assert "Recorded a top-up of 100.25 credits for Studio." in html
    assert decimal_stat(html, "team-month") == "4.5"
    assert decimal_stat(html, "team-budget-stat") == "8"  # 12.5 - 4.5
    assert "left of the 12.5-credit monthly budget" in html
    assert re.search(r'allowance-remaining">([^<]+)<', html).group(1) == "95.75"
    assert "95.75</strong> credits left: 100.25 topped up, 4.5 spent" in html
    assert table_cells(html, "by-member")["bob"] == "4.5"
    assert table_cells(html, "by-model")["flux-pro"] == "4.5"
    assert table_cells(html, "top-prompts")["a fox"] == "4.5"
    row = re.search(r'<tr data-budget="team">.*?</tr>', html, re.S).group(0)
    assert 'data-testid="budget-used">4.5<' in row and 'data-testid="budget-limit">12.5<' in row
    assert 'max="12.5" value="4.5"' in row and "36 %" in row
    assert ".0000" not in html
    mine = page(client_in(people["bob"], team), MINE)
    assert decimal_stat(mine, "spend-today") == decimal_stat(mine, "spend-month") == "4.5"
    assert "4.5 credits spent" in mine  # the header
    assert 'rect class="bar" x=' in mine and 'data-credits="4.5"' in mine


def test_admin_records_a_top_up(people, team):
    client = client_in(people["carol"], team)
    response = client.post(reverse("credits:team_top_up"), {"credits": "500", "note": "  November   plan "})
    assert response.status_code == 302 and response["Location"] == TEAM + "#allowance"
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.credits, entry.team, entry.created_by, entry.note) == (
        "top_up",
        500,
        team,
        people["carol"],
        "November plan",
    )
    html = client.get(TEAM).content.decode()
    assert "Recorded a top-up of 500 credits for Studio." in html
    assert re.search(r'allowance-remaining">(-?\d+)<', html).group(1) == "500"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "more than 0 credits"),
        ("-3", "more than 0 credits"),
        ("-0.5", "more than 0 credits"),
        ("", "how many credits"),
        ("x", "Enter a number of credits"),
        ("nan", "Enter a number of credits"),
        ("0.00001", "at most 4 decimal places"),
    ],
)
def test_top_up_errors_appear_beside_the_field(people, team, value, message):
    response = client_in(people["alice"], team).post(reverse("credits:team_top_up"), {"credits": value})
    assert response.status_code == 200
    block = re.search(
        r'<div class="field has-error" data-field="credits">.*?</div>', response.content.decode(), re.S
    )
    assert block and message in block.group(0)
    assert not LedgerEntry.objects.exists()
    assert f'href="{TEAM}?days=90"' in response.content.decode()  # period links lead back to the dashboard
