"""Images waiting for their host to be allowed: allowing a host, and re-queuing what waits for it.

Re-queuing only downloads again: PixelDojo is never asked (or paid) again for a waiting image.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.utils import timezone

from generations import selectors, tasks
from generations.downloads import is_allowed_image_host
from generations.models import Image, ImageHost
from generations.services.hosts import image_host_notify_admins
from generations.services.persistence import expired_message, image_is_past_retention, image_mark

ImageStatus = Image.Status


def image_host_allow(*, host: str, user) -> dict[str, int]:
    """An operator allows ``host``: it joins the allow-list, and every image waiting for it is re-queued
    (or expired, past PixelDojo's retention). Returns the counts."""
    host = host.strip().lower()
    ImageHost.objects.update_or_create(host=host, defaults={"allowed_at": timezone.now(), "allowed_by": user})
    return images_release_waiting(host=host)


def images_release_waiting(*, host: str | None = None) -> dict[str, int]:
    """Re-queue the waiting images (of ``host``, else of every host) whose host is allowed now; expire those
    PixelDojo has deleted by now, allowed or not."""
    counts = {"images_requeued": 0, "images_expired": 0}
    waiting = Image.objects.select_related("generation").filter(status=ImageStatus.WAITING_HOST)
    if host is not None:
        waiting = waiting.filter(waiting_host=host)
    allowed = selectors.image_hosts_allowed()
    for image in waiting.iterator():
        if image_is_past_retention(image):
            image_mark(image_id=image.id, status=ImageStatus.EXPIRED, message=expired_message())
            counts["images_expired"] += 1
        elif is_allowed_image_host(image.waiting_host, extra_hosts=allowed):
            released = Image.objects.filter(id=image.id, status=ImageStatus.WAITING_HOST).update(
                status=ImageStatus.PENDING, waiting_host="", error_message="", updated_at=timezone.now()
            )
            if released:
                transaction.on_commit(partial(tasks.persist_image.delay, image.id))
                counts["images_requeued"] += 1
    return counts


def image_hosts_notify_pending() -> int:
    """E-mail admins about hosts images wait for that no e-mail went out for (a failed send): addresses."""
    hosts = (
        Image.objects.filter(status=ImageStatus.WAITING_HOST)
        .exclude(waiting_host__in=ImageHost.objects.filter(admins_notified_at__isnull=False).values("host"))
        .values_list("waiting_host", flat=True)
        .distinct()
    )
    return sum(image_host_notify_admins(host=host) for host in list(hosts))
