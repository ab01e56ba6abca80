"""Image hosts PixelDojo sent URLs from that were not allowed: remembered once, admins e-mailed once."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone

from generations.downloads import allowing_setting, retention_words
from generations.models import ImageHost

logger = logging.getLogger(__name__)


def waiting_message(host: str) -> str:
    """Why an image is not saved yet, for the people who made it."""
    return (
        f"PixelDojo sent this image from {host}, which is not an allowed image host yet. It waits, and is "
        f"saved once an operator allows {host}, if that is within PixelDojo's {retention_words()} link."
    )


def admin_addresses() -> list[str]:
    """Who hears about the site's operations: ``ADMINS`` and active staff users with an e-mail address."""
    # ADMINS holds (name, address) pairs, or plain addresses as Django 6 writes them.
    addresses = [entry if isinstance(entry, str) else entry[1] for entry in settings.ADMINS]
    staff = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
    addresses += list(staff.order_by("id").values_list("email", flat=True))
    return list(dict.fromkeys(addresses))


def image_host_notify_admins(*, host: str) -> int:
    """E-mail the admins once that images wait for ``host``: the number of addresses written to.

    The host's row is claimed first (a conditional update), so two workers never both send; if sending fails
    the claim is dropped and the sweeper tries again later.
    """
    ImageHost.objects.get_or_create(host=host)
    claimed = ImageHost.objects.filter(host=host, admins_notified_at__isnull=True).update(
        admins_notified_at=timezone.now()
    )
    if not claimed:
        return 0
    recipients = admin_addresses()
    if not recipients:
        return 0
    try:
        send_mail(
            subject=f"[PixelGallery] Images wait for an image host to be allowed: {host}",
            message=(
                f"PixelDojo sent image URLs on {host}, which is not an allowed image host, so those images "
                f"are not saved yet. They wait; PixelDojo deletes them after its {retention_words()} "
                f'retention.\n\nTo allow {host}, use "Allow this host" on the operations page (/ops/), or '
                f"set {allowing_setting(host)} (the sweeper re-queues them within a minute).\n"
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except OSError:
        logger.warning("image host e-mail could not be sent for %s; the sweeper tries again", host)
        ImageHost.objects.filter(host=host).update(admins_notified_at=None)
        return 0
    return len(recipients)
