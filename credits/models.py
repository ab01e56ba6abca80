"""The credit ledger: append-only rows, totals are always sums of it."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class LedgerEntry(models.Model):
    """One credit movement. A charge is one image PixelDojo returned; it can exist once per image."""

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"
        TOP_UP = "top_up", "Top-up"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CHARGE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    generation = models.ForeignKey(
        "generations.Generation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    image = models.ForeignKey(
        "generations.Image", on_delete=models.SET_NULL, null=True, blank=True, related_name="ledger_entries"
    )
    model = models.CharField(max_length=64, blank=True)
    credits = models.IntegerField(help_text="Credits spent (positive for charges).")
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["image"], condition=models.Q(kind="charge"), name="ledger_one_charge_per_image"
            )
        ]
        indexes = [models.Index(fields=["user", "created_at"], name="ledger_user_created")]

    def __str__(self) -> str:
        return f"{self.kind} {self.credits} ({self.user_id})"
