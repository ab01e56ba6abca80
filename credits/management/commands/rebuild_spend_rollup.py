"""Recompute the daily spend roll-up from the ledger (after bulk imports or a manual repair)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from credits.services import spend_rollup_rebuild


class Command(BaseCommand):
    help = "Rebuild credits.DailySpend from the ledger's charges and refunds, in one transaction."

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        rows = spend_rollup_rebuild()
        seconds = time.monotonic() - started
        message = f"Rebuilt the daily roll-up: {rows:,} row{'' if rows == 1 else 's'} in {seconds:.1f} s."
        self.stdout.write(self.style.SUCCESS(message))
