"""Credits: an append-only ledger, a daily roll-up kept in step with it, budgets and their alerts."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from credits.amounts import MAX_DIGITS, PLACES


def credits_field(**kwargs) -> models.DecimalField:
    """An amount of credits: exact, 4 decimal places (``credits.amounts``)."""
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=PLACES, **kwargs)


class LedgerEntry(models.Model):
    """One credit movement; rows are only ever added (a mistake is corrected by a refund row).

    ``credits`` is the effect on spend: a charge is what one image PixelDojo returned cost (at most one row
    per image; the rows of an answer sum to what it cost), a refund is negative. A top-up adds to the team's
    allowance and is not spend.
    """

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"
        TOP_UP = "top_up", "Top-up"

    SPEND_KINDS = (Kind.CHARGE, Kind.REFUND)

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CHARGE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    team = models.ForeignKey(
        "teams.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
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
    credits = credits_field(
        help_text="Charges: what the image cost (positive); refunds negative; top-ups positive."
    )
    note = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["image"], condition=models.Q(kind="charge"), name="ledger_one_charge_per_image"
            ),
            # A 2xx that gave no usable image is still charged, once, for the whole generation.
            models.UniqueConstraint(
                fields=["generation"],
                condition=models.Q(kind="charge", image__isnull=True),
                name="ledger_one_answer_charge_per_generation",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="ledger_user_created"),
            models.Index(fields=["team", "created_at"], name="ledger_team_created"),
            # The team's allowance sums its top-ups: a few rows among the charges.
            models.Index(fields=["team"], condition=models.Q(kind="top_up"), name="ledger_team_top_ups"),
            # The header's "credits spent" sums a user's charges and refunds from this index alone.
            models.Index(fields=["user", "kind"], include=["credits"], name="ledger_user_spend"),
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.credits} ({self.user_id})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("Ledger entries are append-only; add a refund instead of changing a row.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only; add a refund instead of deleting a row.")


class DailySpend(models.Model):
    """Spend per day, team, user and model: updated in the same transaction as every spend ledger row."""

    day = models.DateField()
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=64, blank=True)
    credits = credits_field(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "team", "user", "model"], name="daily_spend_unique"),
            models.UniqueConstraint(
                fields=["day", "user", "model"],
                condition=models.Q(team__isnull=True),
                name="daily_spend_personal",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "day"], name="daily_spend_team_day"),
            models.Index(fields=["user", "day"], name="daily_spend_user_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id}/{self.team_id} {self.model}: {self.credits}"


class DailyPromptSpend(models.Model):
    """A team's spend per day and prompt, for its top prompts: updated in the same transaction as every spend
    row of a team's generation (refunds without a generation have no prompt and are not counted here)."""

    day = models.DateField()
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    prompt_key = models.CharField(max_length=64, help_text="SHA-256 of the prompt (prompts may be long).")
    prompt = models.TextField()
    credits = credits_field(default=0)

    class Meta:
        constraints = [
            # Also finds a prompt's rows (its text) by key.
            models.UniqueConstraint(fields=["team", "prompt_key", "day"], name="daily_prompt_spend_unique")
        ]
        indexes = [
            # The top prompts sum credits per key over a range of days from this index alone.
            models.Index(
                fields=["team", "day"], include=["prompt_key", "credits"], name="daily_prompt_spend_team_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.team_id} {self.prompt[:40]}: {self.credits}"


class Budget(models.Model):
    """A monthly credit budget for a team (``user`` empty) or for one member of it."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="budgets")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="budgets"
    )
    monthly_credits = credits_field()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team"], condition=models.Q(user__isnull=True), name="budget_one_per_team"
            ),
            models.UniqueConstraint(
                fields=["team", "user"], condition=models.Q(user__isnull=False), name="budget_one_per_member"
            ),
            models.CheckConstraint(
                condition=models.Q(monthly_credits__gte=0),
                name="budget_monthly_credits_not_negative",
                violation_error_message="A budget cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        who = f"{self.user} in " if self.user_id else ""
        return f"{who}{self.team}: {self.monthly_credits}/month"


class BudgetAlert(models.Model):
    """A budget crossed 80 % or 100 % in a month (once per threshold per month), or its forecast said it would
    run out before the month ends at the last 7 days' rate (once per month)."""

    class Kind(models.TextChoices):
        THRESHOLD = "threshold", "Threshold reached"
        FORECAST = "forecast", "Forecast to run out"

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.THRESHOLD)
    month = models.DateField(help_text="First day of the month.")
    threshold = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Percent; empty: forecast.")
    spent = credits_field()
    limit = credits_field()
    rate = credits_field(null=True, blank=True, help_text="Forecast: credits a day over the last 7 days.")
    runs_out_on = models.DateField(null=True, blank=True, help_text="Forecast: the day it would run out.")
    created_at = models.DateTimeField(auto_now_add=True)
    notified = models.PositiveIntegerField(default=0, help_text="Admins e-mailed.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "month", "threshold"], name="budget_alert_once_a_month"
            ),
            models.UniqueConstraint(
                fields=["budget", "month"],
                condition=models.Q(kind="forecast"),
                name="budget_forecast_alert_once_a_month",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="threshold", threshold__isnull=False)
                | models.Q(kind="forecast", threshold__isnull=True, runs_out_on__isnull=False),
                name="budget_alert_kind_fields",
            ),
        ]

    def __str__(self) -> str:
        if self.is_forecast:
            return f"{self.budget} forecast to run out on {self.runs_out_on} ({self.month:%Y-%m})"
        return f"{self.budget} reached {self.threshold}% in {self.month:%Y-%m}"

    @property
    def is_forecast(self) -> bool:
        return self.kind == self.Kind.FORECAST


class Reuse(models.Model):
    """Someone was offered images they already had and took them instead of paying again: nothing was
    charged, and ``credits`` is the price that submission would have cost (what the reuse saved).

    Not a ledger row (it is no spend), but append-only like one. ``generation_id`` is the reused
    generation's id as a plain number: credits does not depend on generations.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="The team the submission was made in; empty for personal work.",
    )
    generation_id = models.BigIntegerField(help_text="The generation reused (its id).")
    model = models.CharField(max_length=64, blank=True)
    credits = credits_field(help_text="What the submission would have cost: the credits saved.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "created_at"], include=["credits"], name="reuse_user_created"),
            models.Index(fields=["team", "created_at"], include=["credits"], name="reuse_team_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(credits__gte=0), name="reuse_credits_not_negative")
        ]

    def __str__(self) -> str:
        return f"reuse of generation {self.generation_id}: {self.credits} saved ({self.user_id})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("Reuses are append-only.")
        super().save(*args, **kwargs)


class ProviderBalance(models.Model):
    """The account balance PixelDojo reported (``credits_remaining``) with an answer: one row per report.

    Append-only like the ledger: answers recorded by concurrent workers each add their report, none
    overwrites another, and the latest by ``reported_at`` is the balance shown.
    """

    credits = credits_field()
    reported_at = models.DateTimeField(db_index=True, help_text="When the answer that carried it arrived.")

    class Meta:
        ordering = ["-reported_at", "-id"]
        get_latest_by = ("reported_at", "id")

    def __str__(self) -> str:
        return f"{self.credits} credits at {self.reported_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("Provider balances are append-only; a new report adds a row.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Provider balances are append-only; a new report adds a row.")
