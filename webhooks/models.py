"""A team's webhook endpoints, the messages sent to them and each attempt to send one."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

EVENT_TYPES = {
    "generation.completed": "A generation finished with at least one image stored",
    "generation.failed": "A generation failed (nothing stored)",
    "budget.threshold": "A budget of the team reached 80 % or 100 % this month",
    "budget.forecast_exceeded": "At the last 7 days' rate, a budget of the team runs out this month",
    "quota.paused": "PixelDojo's quota ran out: new prompts are paused for everyone",
}


class WebhookEndpoint(models.Model):
    """An HTTPS URL a team's admins registered for some event types, with the secret that signs for it."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=100, blank=True)
    event_types = models.JSONField(default=list, help_text="Names from EVENT_TYPES.")
    secret = models.CharField(max_length=100, help_text="whsec_… (Standard Webhooks), shown on the page.")
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, help_text="Failed attempts in a row.")
    failing_since = models.DateTimeField(null=True, blank=True, help_text="The first of those failures.")
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One message (one event) for one endpoint: the same ``message_id`` and body on every attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=40, help_text="webhook-id: msg_…, one per event.")
    event_type = models.CharField(max_length=40)
    payload = models.TextField(help_text="The JSON body exactly as signed and sent.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(help_text="Retries stop a day after this.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "message_id"], name="webhook_delivery_once"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id} to {self.endpoint}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: what answered (HTTP status, or why nothing did) and how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.delivery_id}: {self.status_code or self.error}"
