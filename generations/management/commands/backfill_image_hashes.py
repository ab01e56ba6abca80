"""Compute the perceptual hash of images stored before hashes were computed on storing."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from generations.imaging import InvalidImage
from generations.services import image_hash_backfill, images_missing_hash


class Command(BaseCommand):
    help = (
        "Compute the perceptual hash (for 'Visually similar' and 'Collapse near-duplicates') of stored "
        "images that have none, from their stored thumbnail (or original), in batches by id. Resumable: "
        "stopped, it starts again with the images still without a hash; --after-id skips ahead."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="images read per query (500)")
        parser.add_argument("--limit", type=int, default=0, help="stop after this many images (0: all)")
        parser.add_argument("--after-id", type=int, default=0, help="start after this image id (0)")

    def handle(self, *args, batch_size: int = 500, limit: int = 0, after_id: int = 0, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        started = time.monotonic()
        made = failed = seen = 0
        last = after_id
        while not limit or seen < limit:
            size = min(batch_size, limit - seen) if limit else batch_size
            batch = list(
                images_missing_hash()
                .filter(id__gt=last)
                .order_by("id")
                .only("id", "file", "thumbnail")[:size]
            )
            if not batch:
                break
            for image in batch:
                try:
                    made += image_hash_backfill(image=image)
                except (OSError, InvalidImage) as exc:  # FileNotFoundError is an OSError
                    failed += 1
                    self.stderr.write(f"image {image.id}: no readable file to hash ({exc}); left without.")
            seen += len(batch)
            last = batch[-1].id
            self.stdout.write(f"… {seen:,} images read, up to id {last}")
        seconds = time.monotonic() - started
        summary = f"Hashed {made:,} image{'' if made == 1 else 's'} in {seconds:.1f} s"
        if failed:
            self.stdout.write(self.style.WARNING(f"{summary}; {failed:,} could not be read (see above)."))
        else:
            self.stdout.write(self.style.SUCCESS(f"{summary}."))
