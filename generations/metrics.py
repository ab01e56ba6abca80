"""Scrape-time metrics of generations and images (registered with ``pixelgallery.metrics`` in ``ready()``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.db.models import Count, Sum
from prometheus_client.core import GaugeMetricFamily, Metric

from generations.models import Generation, Image


class GenerationsCollector:
    """Generations and images by status, and stored bytes, straight from the database."""

    def describe(self) -> Iterable[Metric]:  # registering must not query the database
        return []

    def collect(self) -> Iterator[Metric]:
        generations = GaugeMetricFamily(
            "pixelgallery_generations", "Generations in the database, by status.", labels=["status"]
        )
        counts = dict(Generation.objects.order_by().values_list("status").annotate(n=Count("id")))
        for status in Generation.Status.values:
            generations.add_metric([status], counts.get(status, 0))
        yield generations

        images = GaugeMetricFamily(
            "pixelgallery_images",
            "Images in the database, by status (stored: kept in our storage).",
            labels=["status"],
        )
        rows = Image.objects.order_by().values_list("status").annotate(n=Count("id"), size=Sum("size_bytes"))
        by_status = {status: (n, size or 0) for status, n, size in rows}
        for status in Image.Status.values:
            images.add_metric([status], by_status.get(status, (0, 0))[0])
        yield images
        yield GaugeMetricFamily(
            "pixelgallery_images_stored_bytes",
            "Bytes of the stored original images (thumbnails not counted).",
            value=by_status.get(Image.Status.STORED, (0, 0))[1],
        )
