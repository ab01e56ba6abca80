"""Writes for webhooks: endpoints, a delivery per event and endpoint, attempts with back-off, auto-disable.

Each delivery keeps one ``message_id`` and body for every attempt (receivers drop repeats by ``webhook-id``).
An attempt is claimed by moving ``next_attempt_at`` past its own end with a conditional update, so a task
delivered twice, or the sweeper and a task together, never POST the same attempt twice.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from teams.models import Membership, Role
from webhooks import selectors, sending
from webhooks.models import EVENT_TYPES, WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)
Status = WebhookDelivery.Status


def _enqueue(delivery_id: int, *, countdown: float = 0) -> None:
    from webhooks import tasks

    transaction.on_commit(lambda: tasks.deliver_webhook.apply_async((delivery_id,), countdown=countdown))


# --- Endpoints --------------------------------------------------------------------------------------------


def endpoint_create(
    *, team, actor, url: str, event_types: list[str], description: str = ""
) -> WebhookEndpoint:
    """Register ``url`` (already checked by the form) for ``event_types``, with a new secret."""
    unknown = set(event_types) - set(EVENT_TYPES)
    if unknown or not event_types:
        raise ValueError(f"unknown event types: {sorted(unknown)}" if unknown else "no event types")
    return WebhookEndpoint.objects.create(
        team=team,
        url=url,
        description=description,
        event_types=[name for name in EVENT_TYPES if name in event_types],
        secret=sending.new_secret(),
        created_by=actor,
    )


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def team_endpoints_delete(*, team_id: int, actor) -> int:
    """The team is being deleted: nothing more is sent for it. Returns how many endpoints went."""
    return WebhookEndpoint.objects.filter(team_id=team_id).delete()[1].get(WebhookEndpoint._meta.label, 0)


def endpoint_enable(*, endpoint: WebhookEndpoint) -> None:
    """Switch an endpoint back on (after it was disabled), with a clean failure count."""
    WebhookEndpoint.objects.filter(id=endpoint.id).update(
        is_active=True, disabled_at=None, disabled_reason="", consecutive_failures=0, failing_since=None
    )


# --- Events -----------------------------------------------------------------------------------------------


def event_fan_out(event: str, **ids: int) -> int:
    """One delivery of ``event`` to each active endpoint that asked for it (the team's, or every team's for
    ``quota.paused``); returns how many. The ``events.publish`` listener: runs after the event's commit."""
    if event not in EVENT_TYPES:
        return 0
    team_id, data = selectors.event_data(event, **ids)
    if team_id is None and event != "quota.paused":
        return 0  # personal work: no team, no endpoints
    endpoints = WebhookEndpoint.objects.filter(is_active=True)
    if team_id is not None:
        endpoints = endpoints.filter(team_id=team_id)
    now = timezone.now()
    body = json.dumps({"type": event, "timestamp": now.isoformat(), "data": data}, separators=(",", ":"))
    message_id = sending.new_message_id()
    count = 0
    with transaction.atomic():
        for endpoint in endpoints:
            if event not in endpoint.event_types:
                continue
            delivery = WebhookDelivery.objects.create(
                endpoint=endpoint,
                message_id=message_id,
                event_type=event,
                payload=body,
                window_started_at=now,
                next_attempt_at=now,
            )
            _enqueue(delivery.id)
            count += 1
    return count


# --- Attempts ---------------------------------------------------------------------------------------------


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling from the base, capped."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    return min(base * 2 ** (attempts - 1), settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS)


def delivery_attempt(*, delivery_id: int) -> float | None:
    """Make the delivery's attempt if one is due; return in how many seconds to try again, else ``None``."""
    now = timezone.now()
    lease = now + timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 5)
    claimed = WebhookDelivery.objects.filter(
        id=delivery_id, status=Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=lease)
    if not claimed:
        return None  # delivered, given up, or another worker has this attempt (or it is not due)
    delivery = WebhookDelivery.objects.select_related("endpoint").get(id=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        WebhookDelivery.objects.filter(id=delivery.id).update(status=Status.FAILED, next_attempt_at=None)
        return None
    outcome = sending.send(
        url=endpoint.url, secret=endpoint.secret, message_id=delivery.message_id, body=delivery.payload
    )
    WebhookAttempt.objects.create(
        delivery=delivery,
        status_code=outcome.status_code,
        response_ms=outcome.response_ms,
        succeeded=outcome.succeeded,
        error=outcome.error,
    )
    attempts = delivery.attempts + 1
    if outcome.succeeded:
        WebhookDelivery.objects.filter(id=delivery.id).update(
            status=Status.SUCCEEDED, attempts=attempts, next_attempt_at=None
        )
        WebhookEndpoint.objects.filter(id=endpoint.id).update(consecutive_failures=0, failing_since=None)
        return None
    if _endpoint_failed(endpoint):
        WebhookDelivery.objects.filter(id=delivery.id).update(
            status=Status.FAILED, attempts=attempts, next_attempt_at=None
        )
        return None
    delay = retry_delay(attempts)
    at = timezone.now() + timedelta(seconds=delay)
    window_end = delivery.window_started_at + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    if at > window_end:
        WebhookDelivery.objects.filter(id=delivery.id).update(
            status=Status.FAILED, attempts=attempts, next_attempt_at=None
        )
        return None
    WebhookDelivery.objects.filter(id=delivery.id).update(attempts=attempts, next_attempt_at=at)
    # Short waits are the task's own countdown; longer ones (past the broker's visibility timeout) are
    # left to the sweeper, which sends deliveries once they are due.
    return delay if delay <= settings.WEBHOOK_COUNTDOWN_MAX_SECONDS else None


def _endpoint_failed(endpoint: WebhookEndpoint) -> bool:
    """Count one more failed attempt; disable the endpoint (once, e-mailing its team's admins) when it has
    failed ``WEBHOOK_DISABLE_AFTER_FAILURES`` times in a row over at least ``WEBHOOK_DISABLE_AFTER_SECONDS``.
    True when it is now disabled."""
    now = timezone.now()
    WebhookEndpoint.objects.filter(id=endpoint.id, failing_since__isnull=True).update(failing_since=now)
    WebhookEndpoint.objects.filter(id=endpoint.id).update(consecutive_failures=F("consecutive_failures") + 1)
    endpoint.refresh_from_db(fields=["consecutive_failures", "failing_since", "is_active"])
    if endpoint.consecutive_failures < settings.WEBHOOK_DISABLE_AFTER_FAILURES:
        return False
    if endpoint.failing_since is None:  # a success in between started the count again
        return False
    if now - endpoint.failing_since < timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS):
        return False
    reason = (
        f"Disabled after {endpoint.consecutive_failures} failed deliveries in a row "
        f"(since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC)."
    )
    disabled = WebhookEndpoint.objects.filter(id=endpoint.id, is_active=True).update(
        is_active=False, disabled_at=now, disabled_reason=reason
    )
    if disabled:
        _notify_admins_disabled(endpoint, reason)
    return True


def _notify_admins_disabled(endpoint: WebhookEndpoint, reason: str) -> int:
    admins = Membership.objects.filter(team_id=endpoint.team_id, role__in=[Role.OWNER, Role.ADMIN])
    recipients = [m.user.email for m in admins.select_related("user") if m.user.email]
    if not recipients:
        return 0
    team = endpoint.team
    try:
        return send_mail(
            subject=f"[PixelGallery] A webhook endpoint of {team.name} was disabled",
            message=(
                f"Webhooks to {endpoint.url} kept failing and are no longer sent. {reason}\n"
                "Fix the receiver, then enable the endpoint again and re-send what it missed on the team's "
                "webhooks page."
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:
        logger.warning("webhook disable e-mail could not be sent for endpoint %s", endpoint.id)
        return 0


def delivery_resend(*, delivery: WebhookDelivery) -> None:
    """Send the delivery again now (same ``webhook-id`` and body, a new signature), with a fresh 24 h of
    retries if this attempt fails too."""
    now = timezone.now()
    WebhookDelivery.objects.filter(id=delivery.id).update(
        status=Status.PENDING, next_attempt_at=now, window_started_at=now
    )
    _enqueue(delivery.id)


def deliveries_send_due() -> int:
    """Periodic (beat): queue pending deliveries whose next attempt is due (long back-offs, lost tasks)."""
    due = timezone.now() - timedelta(seconds=settings.WEBHOOK_SWEEP_GRACE_SECONDS)
    ids = list(
        WebhookDelivery.objects.filter(
            status=Status.PENDING, next_attempt_at__lte=due, endpoint__is_active=True
        ).values_list("id", flat=True)[:1000]
    )
    for delivery_id in ids:
        _enqueue(delivery_id)
    return len(ids)
