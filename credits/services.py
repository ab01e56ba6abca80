"""Writes to the credit ledger."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from credits.models import LedgerEntry
from generations.models import Generation, Image

CREDITS_PER_IMAGE = 1


def ledger_charge_images(*, generation: Generation, images: Iterable[Image]) -> int:
    """Charge one credit per image, at most once per image whatever the retries; return new charges made."""
    charged = 0
    for image in images:
        try:
            with transaction.atomic():
                LedgerEntry.objects.create(
                    kind=LedgerEntry.Kind.CHARGE,
                    user_id=generation.user_id,
                    generation=generation,
                    image=image,
                    model=generation.model,
                    credits=CREDITS_PER_IMAGE,
                )
        except IntegrityError:
            continue  # already charged for this image (a redelivered task): the unique constraint decides.
        charged += 1
    return charged
