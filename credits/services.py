"""Writes to the credit ledger, the daily roll-up kept in step with it, budgets and their alerts."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from credits.amounts import credits_label, exact, format_credits, split
from credits.models import (
    Budget,
    BudgetAlert,
    DailyPromptSpend,
    DailySpend,
    LedgerEntry,
    ProviderBalance,
    Reuse,
)
from credits.selectors import (
    Forecast,
    budget_forecast,
    budget_usage,
    credits_spent_this_month,
    month_start,
    spent_cache_key,
)
from pixelgallery import events
from pixelgallery.caching import forget
from pixelgallery.moments import day_text
from teams.models import Membership, Role

logger = logging.getLogger(__name__)

ALERT_THRESHOLDS = (80, 100)


class BudgetExceeded(Exception):
    """A submission would take a team or member over its monthly budget; the message says which."""


# --- Ledger and roll-up -------------------------------------------------------------------------------


def prompt_key(prompt: str) -> str:
    """The key of a prompt in the per-prompt roll-up (prompts can be too long for an index)."""
    return hashlib.sha256(prompt.encode()).hexdigest()


def _add_to(model, keys: dict, credits: Decimal, **create_fields) -> None:
    """Add ``credits`` to the roll-up row ``keys`` of ``model`` (creating it), in the caller's transaction."""
    if model.objects.filter(**keys).update(credits=F("credits") + credits):
        return
    try:
        with transaction.atomic():
            model.objects.create(credits=credits, **keys, **create_fields)
    except IntegrityError:  # created concurrently: add to it instead
        model.objects.filter(**keys).update(credits=F("credits") + credits)


def _roll_up(entry: LedgerEntry) -> None:
    """Add a spend row's credits to its day's roll-ups, in the caller's transaction."""
    day = timezone.localdate(entry.created_at)
    keys = {"day": day, "team_id": entry.team_id, "user_id": entry.user_id, "model": entry.model}
    _add_to(DailySpend, keys, entry.credits)
    forget(spent_cache_key(entry.user_id))  # the header's total
    if entry.team_id is not None and entry.generation_id is not None:
        prompt = entry.generation.prompt  # the generation the caller passed: no query
        keys = {"day": day, "team_id": entry.team_id, "prompt_key": prompt_key(prompt)}
        _add_to(DailyPromptSpend, keys, entry.credits, prompt=prompt)


def _spend(**fields) -> LedgerEntry:
    with transaction.atomic():
        entry = LedgerEntry.objects.create(**fields)
        _roll_up(entry)
    return entry


def ledger_charge_images(*, generation, images: Iterable, credits: Decimal) -> int:
    """Charge ``credits`` for these images of ``generation``: one row per image, at most once per image
    whatever the retries; return the new charges made.

    The rows sum exactly to ``credits`` (4 places; what does not divide evenly goes on the first image), each
    image's share fixed by its place in ``images``.
    """
    images = list(images)
    shares = split(_charge_amount(credits), len(images))
    charged = sum(
        _charge(generation, share, image=image) for image, share in zip(images, shares, strict=True)
    )
    if charged:
        _check_alerts_after_commit(generation)
    return charged


def ledger_charge_answer(*, generation, credits: Decimal, note: str) -> bool:
    """Charge ``credits`` for an answer of ``generation`` that gave no usable image (PixelDojo answered 2xx,
    so it may have charged): one row without an image, at most once per generation. True if it was new."""
    charged = _charge(generation, _charge_amount(credits), note=note[:255])
    if charged:
        _check_alerts_after_commit(generation)
    return charged


def _charge_amount(credits: Decimal) -> Decimal:
    amount = exact(credits)
    if amount < 0:
        raise ValueError(f"A charge is a non-negative number of credits, not {amount}.")
    return amount


def _charge(generation, credits: Decimal, *, image=None, note: str = "") -> bool:
    """One charge row; False when the unique constraints say it was already made (a redelivered task)."""
    try:
        _spend(
            kind=LedgerEntry.Kind.CHARGE,
            user_id=generation.user_id,
            team_id=generation.team_id,
            generation=generation,
            image=image,
            model=generation.model,
            credits=credits,
            note=note,
        )
    except IntegrityError:
        return False
    return True


def _check_alerts_after_commit(generation) -> None:
    if generation.team_id:
        transaction.on_commit(lambda: _check_alerts(team_id=generation.team_id, user_id=generation.user_id))


def _check_alerts(*, team_id: int, user_id: int) -> None:
    budget_alerts_check(team_id=team_id, user_id=user_id)
    budget_forecast_check(team_id=team_id, user_id=user_id)


def _positive(credits: Decimal, what: str) -> Decimal:
    amount = exact(credits)
    if amount <= 0:
        raise ValueError(f"A {what} is a positive number of credits.")
    return amount


def ledger_refund(*, actor, user, team=None, credits: Decimal, note: str, generation=None) -> LedgerEntry:
    """An operator gives credits back: a negative spend row (the original charge stays)."""
    credits = _positive(credits, "refund")
    return _spend(
        kind=LedgerEntry.Kind.REFUND,
        user=user,
        team=team,
        generation=generation,
        model=generation.model if generation else "",
        credits=-credits,
        note=note,
        created_by=actor,
    )


def ledger_refund_provider(*, generation, credits: Decimal, note: str) -> LedgerEntry:
    """Credits PixelDojo gave back for part of a job it was paid for (failed images, a failed job): a
    negative spend row, made by nobody. The caller records each outcome once (under the generation's lock)."""
    credits = _positive(credits, "refund")
    return _spend(
        kind=LedgerEntry.Kind.REFUND,
        user_id=generation.user_id,
        team_id=generation.team_id,
        generation=generation,
        model=generation.model,
        credits=-credits,
        note=note[:255],
    )


def ledger_top_up(*, actor, team, credits: Decimal, note: str = "") -> LedgerEntry:
    """An admin records credits added to the team's PixelDojo allowance."""
    credits = _positive(credits, "top-up")
    return LedgerEntry.objects.create(
        kind=LedgerEntry.Kind.TOP_UP, user=actor, team=team, credits=credits, note=note, created_by=actor
    )


def spend_rollup_rebuild() -> int:
    """Recompute the roll-ups from the ledger (after bulk imports); returns the daily rows written."""
    rows = (
        LedgerEntry.objects.filter(kind__in=LedgerEntry.SPEND_KINDS)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "team_id", "user_id", "model")
        .annotate(total=Sum("credits"))
        .order_by()
    )
    prompt_rows = (
        LedgerEntry.objects.filter(
            kind__in=LedgerEntry.SPEND_KINDS, team__isnull=False, generation__isnull=False
        )
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values_list("day", "team_id", "generation__prompt")
        .annotate(total=Sum("credits"))
        .order_by()
    )
    with transaction.atomic():
        spenders = set(DailySpend.objects.values_list("user_id", flat=True).distinct())
        DailySpend.objects.all().delete()
        created = DailySpend.objects.bulk_create(
            (
                DailySpend(
                    day=r["day"],
                    team_id=r["team_id"],
                    user_id=r["user_id"],
                    model=r["model"],
                    credits=r["total"],
                )
                for r in rows.iterator(chunk_size=5000)
            ),
            batch_size=5000,
        )
        DailyPromptSpend.objects.all().delete()
        DailyPromptSpend.objects.bulk_create(
            (
                DailyPromptSpend(
                    day=day, team_id=team_id, prompt_key=prompt_key(prompt), prompt=prompt, credits=total
                )
                for day, team_id, prompt, total in prompt_rows.iterator(chunk_size=5000)
            ),
            batch_size=5000,
        )
        spenders.update(row.user_id for row in created)
        forget(*(spent_cache_key(user_id) for user_id in spenders))  # the header's totals
    return len(created)


# --- Budgets ------------------------------------------------------------------------------------------


def budget_set(*, actor, team, monthly_credits: Decimal | int | None, user=None) -> Budget | None:
    """Set (or with ``None`` remove) the team's monthly budget, or one member's."""
    if monthly_credits is None:
        Budget.objects.filter(team=team, user=user).delete()
        return None
    monthly_credits = exact(monthly_credits)
    if monthly_credits < 0:
        raise ValueError("A budget is a number of credits, 0 or more.")
    budget, _ = Budget.objects.update_or_create(
        team=team, user=user, defaults={"monthly_credits": monthly_credits, "updated_by": actor}
    )
    return budget


class ReservedCredits(Protocol):
    def __call__(self, *, user_id: int | None) -> Decimal:
        """Credits reserved in the team (by ``user_id``, else by anyone) by work not answered yet."""


def budget_check_submission(*, team, user, credits: Decimal, reserved: ReservedCredits) -> None:
    """Refuse work costing ``credits`` that would exceed the team's or the member's budget this month.

    Must run inside the transaction that records the generation: the budget rows are locked, so concurrent
    submissions are counted one after another and never overspend together. ``reserved`` is asked only once
    they are locked, for the team's budget (``user_id=None``) and the member's.
    """
    budgets = list(
        Budget.objects.select_for_update()
        .filter(Q(user__isnull=True) | Q(user=user), team=team)
        .order_by("id")
    )
    for budget in budgets:
        usage = budget_usage(budget=budget, reserved=reserved(user_id=budget.user_id))
        if not usage.fits(credits):
            left = usage.left
            whose = "your" if budget.user_id else f"{team.name}'s"
            raise BudgetExceeded(
                f"This needs {credits_label(credits)} but only {format_credits(left, grouping=True)} of "
                f"{whose} monthly budget of {format_credits(usage.limit, grouping=True)} "
                f"{'is' if left == 1 else 'are'} left "
                f"(counting work still in progress). Ask a team admin to raise the budget, or generate fewer "
                f"images. Nothing was queued or charged."
            )


# --- What PixelDojo reports -----------------------------------------------------------------------------


def reuse_record(*, user, team, credits: Decimal, generation_id: int, model: str = "") -> Reuse:
    """Record that ``user`` (in ``team``, or personal work) took generation ``generation_id``'s images
    instead of paying ``credits`` for new ones: nothing is charged; the credits pages count it as saved."""
    return Reuse.objects.create(
        user=user,
        team=team,
        generation_id=generation_id,
        model=model[:64],
        credits=_charge_amount(credits),
    )


def provider_balance_record(*, credits: Decimal, reported_at=None) -> ProviderBalance:
    """Keep the account balance PixelDojo reported with an answer (``credits_remaining``)."""
    return ProviderBalance.objects.create(credits=exact(credits), reported_at=reported_at or timezone.now())


# --- Alerts -------------------------------------------------------------------------------------------


def _budgets_of(*, team_id: int, user_id: int) -> QuerySet[Budget]:
    """The team's budget and the member's own: the budgets a charge of ``user_id`` in the team counts in."""
    return Budget.objects.filter(Q(user__isnull=True) | Q(user_id=user_id), team_id=team_id).select_related(
        "team", "user"
    )


def budget_alerts_check(*, team_id: int, user_id: int) -> list[BudgetAlert]:
    """Record (once per month and threshold) budgets that crossed 80 % or 100 %, and e-mail the admins."""
    alerts = []
    month = month_start()
    for budget in _budgets_of(team_id=team_id, user_id=user_id):
        spent = credits_spent_this_month(team_id=team_id, user_id=budget.user_id)
        for threshold in ALERT_THRESHOLDS:
            if spent * 100 < threshold * budget.monthly_credits:
                continue
            try:
                with transaction.atomic():
                    alert = BudgetAlert.objects.create(
                        budget=budget,
                        month=month,
                        threshold=threshold,
                        spent=spent,
                        limit=budget.monthly_credits,
                    )
            except IntegrityError:
                continue  # already alerted this month
            alert.notified = _notify_admins(alert)
            BudgetAlert.objects.filter(id=alert.id).update(notified=alert.notified)
            events.publish("budget.threshold", budget_alert_id=alert.id)
            alerts.append(alert)
    return alerts


def budget_forecast_check(*, team_id: int, user_id: int, now: datetime | None = None) -> list[BudgetAlert]:
    """Record (once per budget and month) budgets that will run out before the month ends at the last 7 days'
    rate, e-mail the admins and publish ``budget.forecast_exceeded``; returns the new alerts.

    ``now`` (default: now) is when the forecast starts. The partial unique constraint on the alert makes
    concurrent checks (two workers' charges) record, e-mail and publish it once.
    """
    alerts = []
    for budget in _budgets_of(team_id=team_id, user_id=user_id):
        forecast = budget_forecast(budget=budget, now=now)
        if not forecast.runs_out_this_month:
            continue
        try:
            with transaction.atomic():
                alert = BudgetAlert.objects.create(
                    budget=budget,
                    kind=BudgetAlert.Kind.FORECAST,
                    month=forecast.period_start,
                    spent=exact(forecast.spent),
                    limit=budget.monthly_credits,
                    rate=exact(forecast.rate),
                    runs_out_on=forecast.runs_out_on,
                )
        except IntegrityError:
            continue  # already alerted this month
        alert.notified = _notify_admins(alert, forecast=forecast)
        BudgetAlert.objects.filter(id=alert.id).update(notified=alert.notified)
        events.publish("budget.forecast_exceeded", budget_alert_id=alert.id)
        alerts.append(alert)
    return alerts


def _notify_admins(alert: BudgetAlert, *, forecast: Forecast | None = None) -> int:
    """E-mail the team's owners and admins about ``alert``; returns how many were sent."""
    budget = alert.budget
    admins = Membership.objects.filter(
        team_id=budget.team_id, role__in=[Role.OWNER, Role.ADMIN]
    ).select_related("user")
    recipients = [m.user.email for m in admins if m.user.email]
    if not recipients:
        return 0
    subject_who = (
        f"{budget.user.get_username()}'s budget in {budget.team.name}"
        if budget.user_id
        else (f"{budget.team.name}'s budget")
    )
    used = f"{format_credits(alert.spent, grouping=True)} of {credits_label(alert.limit)} this month"
    if forecast is not None:
        subject = f"[PixelGallery] {subject_who} will run out on {day_text(forecast.runs_out_on)}"
        message = (
            f"{subject_who} has used {used}. {forecast.text} "
            f"Budgets can be changed on the team's credits page."
        )
    else:
        subject = f"[PixelGallery] {subject_who} reached {alert.threshold}%"
        message = (
            f"{subject_who} has used {used} ({alert.threshold}% threshold). "
            f"Budgets can be changed on the team's credits page."
        )
    try:
        return send_mail(
            subject=subject, message=message, from_email=None, recipient_list=recipients
        ) and len(recipients)
    except OSError:
        logger.warning("budget alert e-mail could not be sent for budget %s", budget.id)
        return 0


def team_budgets_delete(*, team_id: int, actor) -> int:
    """The team is being deleted: drop its budgets (and their alerts). Its ledger and roll-ups stay."""
    deleted, _ = Budget.objects.filter(team_id=team_id).delete()
    return deleted
