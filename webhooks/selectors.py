"""Reads for webhooks: a team's endpoints and delivery log, and what an event's message says."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from credits.amounts import plain
from credits.models import BudgetAlert
from generations.models import Generation, ProviderPause
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

LOG_LENGTH = 50


def endpoints_for_team(*, team_id: int) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(team_id=team_id)


def endpoint_for_team(*, team_id: int, code) -> WebhookEndpoint:
    """The team's endpoint, or 404 (another team's endpoint is as unknown as a made-up code)."""
    endpoint = endpoints_for_team(team_id=team_id).filter(code=code).first()
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def delivery_for_endpoint(*, endpoint: WebhookEndpoint, code) -> WebhookDelivery:
    delivery = endpoint.deliveries.filter(code=code).first()
    if delivery is None:
        raise Http404("No such delivery.")
    return delivery


def delivery_log(*, endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    """The endpoint's latest deliveries, newest first, each with its attempts (newest first)."""
    deliveries = list(endpoint.deliveries.all()[:LOG_LENGTH])
    attempts: dict[int, list[WebhookAttempt]] = {delivery.id: [] for delivery in deliveries}
    for attempt in WebhookAttempt.objects.filter(delivery_id__in=attempts):
        attempts[attempt.delivery_id].append(attempt)
    for delivery in deliveries:
        delivery.log = attempts[delivery.id]
    return deliveries


def _generation(generation_id: int) -> tuple[int | None, dict[str, Any]]:
    generation = Generation.objects.select_related("team").get(id=generation_id)
    images = generation.images.order_by("index")
    return generation.team_id, {
        "generation": str(generation.code),
        "status": generation.status,
        "prompt": generation.prompt,
        "model": generation.model,
        "num_outputs": generation.num_outputs,
        "error_code": generation.error_code,
        "error_message": generation.error_message,
        "images": [{"code": str(image.code), "status": image.status} for image in images],
        "team": str(generation.team.code) if generation.team_id else None,
        "finished_at": generation.finished_at.isoformat() if generation.finished_at else None,
    }


def _budget(alert_id: int) -> tuple[int | None, dict[str, Any]]:
    alert = BudgetAlert.objects.select_related("budget__team", "budget__user").get(id=alert_id)
    budget = alert.budget
    return budget.team_id, {
        "team": str(budget.team.code),
        "member": budget.user.get_username() if budget.user_id else None,  # None: the team's budget
        "threshold_percent": alert.threshold,
        "spent": plain(alert.spent),
        "monthly_credits": plain(alert.limit),
        "month": alert.month.isoformat(),
    }


def _forecast(alert_id: int) -> tuple[int | None, dict[str, Any]]:
    alert = BudgetAlert.objects.select_related("budget__team", "budget__user").get(id=alert_id)
    budget = alert.budget
    return budget.team_id, {
        "team": str(budget.team.code),
        "member": budget.user.get_username() if budget.user_id else None,  # None: the team's budget
        "forecast_date": alert.runs_out_on.isoformat(),
        "rate_per_day": plain(alert.rate),
        "spent": plain(alert.spent),
        "monthly_credits": plain(alert.limit),
        "month": alert.month.isoformat(),
    }


def _quota(pause_id: int) -> tuple[int | None, dict[str, Any]]:
    pause = ProviderPause.objects.get(id=pause_id)
    return None, {
        "code": pause.code,
        "message": pause.message,
        "paused_at": pause.paused_at.isoformat(),
        "paused_until": pause.paused_until.isoformat(),
    }


def event_data(event: str, **ids: int) -> tuple[int | None, dict[str, Any]]:
    """The team an event concerns (``None``: every team) and its message's ``data``."""
    if event.startswith("generation."):
        return _generation(ids["generation_id"])
    if event == "budget.threshold":
        return _budget(ids["budget_alert_id"])
    if event == "budget.forecast_exceeded":
        return _forecast(ids["budget_alert_id"])
    if event == "quota.paused":
        return _quota(ids["pause_id"])
    raise ValueError(f"unknown event {event}")
