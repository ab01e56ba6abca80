"""The forecast alert: recorded once per budget and month when a charge makes the budget run out before the
month ends, shown on the team's page, e-mailed to its admins and sent, signed, as ``budget.forecast_exceeded``
to a real receiver by a real webhooks worker.

Charges go through ``ledger_charge_images`` (the alert check runs once they commit, on the wall clock), with
amounts that leave 0.0001 credits at thousands a day: the forecast day is today whatever the time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from credits.amounts import exact
from credits.models import BudgetAlert
from credits.selectors import month_end
from credits.services import budget_forecast_check, budget_set
from pixelgallery.moments import day_text
from teams.models import Membership
from tests.conftest import purge_queues, running_worker, wait_for
from tests.credits.helpers import at, charge, client_in
from tests.library.factories import make_team
from tests.webhooks.receiver import Receiver, running_receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint

FORECAST = BudgetAlert.Kind.FORECAST


@pytest.fixture
def webhook_worker(celery_app_configured, transactional_db, settings) -> Iterator[object]:
    """A real Celery worker on the ``webhooks`` queue, allowed to post to a receiver on loopback."""
    settings.WEBHOOK_HOSTS_LOOPBACK_OK = ["127.0.0.1"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 5.0
    purge_queues(celery_app_configured)
    with running_worker(celery_app_configured, ["webhooks"]) as worker:
        yield worker
    purge_queues(celery_app_configured)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def studio(make_user, transactional_db):
    """alice owns it and carol is an admin (both with e-mail addresses), bob is a member."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    for user in (alice, carol):
        user.email = f"{user.username}@example.com"
        user.save()
    return make_team(alice, member=bob, admin=carol)


def forecast_mails() -> list:
    return [message for message in mail.outbox if "will run out on" in message.subject]


def register(team, url: str) -> WebhookEndpoint:
    """The endpoint an admin registers on the team's webhooks page, for the forecast event only."""
    client = client_in(team.memberships.get(role="admin").user)
    response = client.post(
        reverse("webhooks:list", kwargs={"code": team.code}),
        {"url": url, "description": "budgets", "event_types": ["budget.forecast_exceeded"]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return WebhookEndpoint.objects.get(team=team, url=url)


def test_the_forecast_alert_fires_once_a_month_in_the_app_by_e_mail_and_as_a_signed_webhook(
    webhook_worker, studio, receiver
):
    bob = studio.memberships.get(role="member").user
    endpoint = register(studio, receiver.url)
    budget = budget_set(actor=studio.created_by, team=studio, monthly_credits=100_000)
    charge(bob, team=studio, cost="99999.9997")  # crosses: 0.0003 left at 14,286 a day
    charge(bob, team=studio, cost="0.0001")  # two more charges: still running out today, no second alert
    charge(bob, team=studio, cost="0.0001")
    today = timezone.localdate()

    [alert] = BudgetAlert.objects.filter(kind=FORECAST)
    rate = exact(D("99999.9997") / 7)
    assert (alert.budget, alert.month, alert.runs_out_on) == (budget, today.replace(day=1), today)
    assert (alert.spent, alert.limit, alert.rate) == (D("99999.9997"), 100_000, rate)
    assert alert.notified == 2
    [message] = forecast_mails()
    assert sorted(message.to) == ["alice@example.com", "carol@example.com"]
    assert message.subject == f"[PixelGallery] Studio's budget will run out on {day_text(today)}"
    assert "has used 99,999.9997 of 100,000 credits this month." in message.body
    assert f"At the last 7 days' rate (14,285.7 a day) this runs out on {day_text(today)}." in message.body

    [got] = wait_for(lambda: receiver.requests(), timeout=15)
    signed = Webhook(endpoint.secret).verify(got.body, got.headers)  # raises unless signed with its secret
    assert signed["type"] == "budget.forecast_exceeded"
    assert signed["data"] == {
        "team": str(studio.code),
        "member": None,
        "forecast_date": today.isoformat(),
        "rate_per_day": str(rate),
        "spent": "99999.9997",
        "monthly_credits": "100000",
        "month": today.replace(day=1).isoformat(),
    }
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").first(), timeout=15)
    assert delivery.event_type == "budget.forecast_exceeded" and WebhookDelivery.objects.count() == 1

    page = client_in(studio.created_by, studio).get(reverse("credits:team")).content.decode()
    assert 'data-testid="forecast-alert"' in page and "at 14,285.7 a day" in page

    # The next month is a new period: charged there, the forecast alerts again, once.
    next_month = month_end(today) + timedelta(days=1)
    charge(bob, team=studio, cost="99999.9999", day=next_month)
    noon = at(next_month)
    [again] = budget_forecast_check(team_id=studio.id, user_id=bob.id, now=noon)
    assert budget_forecast_check(team_id=studio.id, user_id=bob.id, now=noon + timedelta(hours=1)) == []
    assert (again.month, again.runs_out_on) == (next_month, next_month)
    assert BudgetAlert.objects.filter(kind=FORECAST).count() == 2 and len(forecast_mails()) == 2
    wait_for(lambda: len(receiver.requests()) == 2, timeout=15)
    assert WebhookDelivery.objects.filter(event_type="budget.forecast_exceeded").count() == 2
    assert len(receiver.requests()) == 2


def test_a_member_budget_alerts_with_the_member_named(studio):
    bob = studio.memberships.get(role="member").user
    now = datetime(2031, 3, 10, 12, tzinfo=UTC)
    charge(bob, team=studio, cost=6, day=now.date() - timedelta(days=2))  # 4 left at 6/7 a day: the 15th
    budget_set(actor=studio.created_by, team=studio, user=bob, monthly_credits=10)  # after: not checked

    [alert] = budget_forecast_check(team_id=studio.id, user_id=bob.id, now=now)
    assert alert.budget.user == bob and alert.runs_out_on == datetime(2031, 3, 15).date()
    [message] = forecast_mails()
    assert message.subject == "[PixelGallery] bob's budget in Studio will run out on 15 Mar 2031"
    # spending that lasts the month, or a member without a budget: no alert
    assert budget_forecast_check(team_id=studio.id, user_id=bob.id, now=now + timedelta(days=25)) == []
    assert budget_forecast_check(team_id=studio.id, user_id=studio.created_by.id, now=now) == []


def test_concurrent_checks_record_e_mail_and_publish_one_alert(studio):
    bob = studio.memberships.get(role="member").user
    now = datetime(2031, 3, 10, 12, tzinfo=UTC)
    charge(bob, team=studio, cost=7, day=now.date())  # 3 left at 1 a day
    budget_set(actor=studio.created_by, team=studio, monthly_credits=10)  # after: not checked on the charge
    Membership.objects.filter(team=studio, role="admin").update(role="member")  # one recipient: alice
    barrier, results, errors = threading.Barrier(4), [], []

    def check() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(budget_forecast_check(team_id=studio.id, user_id=bob.id, now=now))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(len(found) for found in results) == [0, 0, 0, 1]
    assert BudgetAlert.objects.filter(kind=FORECAST).count() == 1
    assert [message.to for message in forecast_mails()] == [["alice@example.com"]]
