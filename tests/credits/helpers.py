"""Builders for credit pages: charges on chosen days, ledger and roll-up sums, clients with a team active."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from credits.models import DailySpend, LedgerEntry
from credits.services import ledger_charge_images, spend_rollup_rebuild
from generations.models import Generation, Image
from teams.active import SESSION_KEY
from teams.models import Team


def at(day: date, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


def charge(
    user,
    *,
    team=None,
    n: int = 1,
    model: str = "flux-pro",
    prompt: str = "a quiet harbour at dusk",
    day: date | None = None,
    cost: Decimal | str | int = 1,
) -> Generation:
    """One generation of ``n`` images, each charged once at ``cost``; on ``day`` (then the roll-up is
    rebuilt)."""
    generation = Generation.objects.create(
        user=user, team=team, prompt=prompt, model=model, num_outputs=n, status="done", provider_id="p"
    )
    ledger_charge_images(generation=generation, images=_images(generation, n), credits=n * Decimal(cost))
    if day is not None and day != timezone.localdate():
        LedgerEntry.objects.filter(generation=generation).update(created_at=at(day))
        Generation.objects.filter(id=generation.id).update(created_at=at(day))
        spend_rollup_rebuild()
    return generation


def charge_in_bulk(user, *, team=None, n: int, model: str = "flux-pro") -> Generation:
    """Like ``charge`` for many images at once: ledger rows in one insert, the roll-up rebuilt from them."""
    generation = Generation.objects.create(
        user=user,
        team=team,
        prompt="a bulk order",
        model=model,
        num_outputs=n,
        status="done",
        provider_id="p",
    )
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            kind=LedgerEntry.Kind.CHARGE,
            user=user,
            team=team,
            generation=generation,
            image=image,
            model=model,
            credits=1,
        )
        for image in _images(generation, n)
    )
    spend_rollup_rebuild()
    return generation


def _images(generation: Generation, n: int) -> list[Image]:
    """``n`` images PixelDojo returned for ``generation``, inserted at once."""
    return Image.objects.bulk_create(
        Image(
            generation=generation,
            user_id=generation.user_id,
            team_id=generation.team_id,
            index=index,
            provider_url="http://127.0.0.1:9/x.png",
        )
        for index in range(n)
    )


def ledger_spend(**filters) -> int:
    rows = LedgerEntry.objects.filter(kind__in=LedgerEntry.SPEND_KINDS, **filters)
    return rows.aggregate(total=Sum("credits"))["total"] or 0


def rollup_spend(**filters) -> int:
    return DailySpend.objects.filter(**filters).aggregate(total=Sum("credits"))["total"] or 0


def client_in(user, team: Team | None = None, *, code: str | None = None) -> Client:
    """A logged-in client with ``team`` (or a raw team ``code``) active in its session."""
    client = Client()
    client.force_login(user)
    if team is not None or code is not None:
        session = client.session
        session[SESSION_KEY] = code or str(team.code)
        session.save()
    return client


def days_ago(days: int) -> date:
    return timezone.localdate() - timedelta(days=days)
