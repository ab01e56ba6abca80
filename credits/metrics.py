"""Scrape-time metrics of the ledger (registered with ``pixelgallery.metrics`` in ``ready()``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.db.models import Sum
from prometheus_client.core import GaugeMetricFamily, Metric

from credits.models import LedgerEntry


class CreditsCollector:
    """Credits spent, summed from the ledger."""

    def describe(self) -> Iterable[Metric]:  # registering must not query the database
        return []

    def collect(self) -> Iterator[Metric]:
        spend = LedgerEntry.objects.filter(kind__in=[LedgerEntry.Kind.CHARGE, LedgerEntry.Kind.REFUND])
        yield GaugeMetricFamily(
            "pixelgallery_credits_spent",
            "Credits spent, summed from the ledger (charges minus refunds).",
            value=float(spend.aggregate(total=Sum("credits"))["total"] or 0),
        )
