"""Make the two WebP thumbnails of images stored before there were two (one decode of each original)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from generations.imaging import InvalidImage
from generations.services import image_thumbnails_remake, images_missing_small_thumbnail


class Command(BaseCommand):
    help = (
        "Remake the thumbnails (both sizes, for srcset) of stored images that have only the older one. "
        "Safe to run again, and while the site runs: each image is switched to its new files in one update."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=0, help="stop after this many images (0: all)")

    def handle(self, *args, limit: int = 0, **options) -> None:
        started = time.monotonic()
        ids = images_missing_small_thumbnail().order_by("id").values_list("id", flat=True)
        made = failed = 0
        for image_id in ids[:limit] if limit > 0 else ids.iterator():
            try:
                made += image_thumbnails_remake(image_id=image_id)
            except (FileNotFoundError, InvalidImage) as exc:
                failed += 1
                self.stderr.write(f"image {image_id}: its original could not be read ({exc}); left as is.")
        seconds = time.monotonic() - started
        summary = f"Made both thumbnails of {made:,} image{'' if made == 1 else 's'} in {seconds:.1f} s"
        if failed:
            self.stdout.write(self.style.WARNING(f"{summary}; {failed:,} could not be remade (see above)."))
        else:
            self.stdout.write(self.style.SUCCESS(f"{summary}."))
