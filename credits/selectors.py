"""Reads of the credit ledger."""

from __future__ import annotations

from django.db.models import Sum

from credits.models import LedgerEntry


def credits_spent_by_user(*, user_id: int) -> int:
    """Net credits spent by a user: charges minus refunds, summed from the ledger."""
    rows = LedgerEntry.objects.filter(
        user_id=user_id, kind__in=[LedgerEntry.Kind.CHARGE, LedgerEntry.Kind.REFUND]
    ).aggregate(total=Sum("credits"))
    return rows["total"] or 0


def credits_for_image(*, image_id: int) -> int:
    """Credits charged for one image (1 once PixelDojo returned it)."""
    rows = LedgerEntry.objects.filter(image_id=image_id).aggregate(total=Sum("credits"))
    return rows["total"] or 0
