"""System checks for a production configuration (``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

MIN_SECRET_KEY_LENGTH = 50
INSECURE_PREFIXES = ("insecure-", "django-insecure-")  # the built-in development key starts so


@register(deploy=True)
def secret_key_check(app_configs=None, **kwargs) -> list[Error]:
    """With DEBUG off, the secret key must come from DJANGO_SECRET_KEY and be long and random."""
    if settings.DEBUG:
        return []
    key = settings.SECRET_KEY or ""
    if key.startswith(INSECURE_PREFIXES) or len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 5:
        return [
            Error(
                "DJANGO_SECRET_KEY is unset, the development default, or too weak for production.",
                hint=(
                    f"Set DJANGO_SECRET_KEY to a random value of at least {MIN_SECRET_KEY_LENGTH} "
                    "characters, e.g. python -c 'import secrets; print(secrets.token_urlsafe(64))'."
                ),
                id="pixelgallery.E001",
            )
        ]
    return []


@register(deploy=True)
def metrics_token_check(app_configs=None, **kwargs) -> list[Error]:
    """With DEBUG off, /metrics is served only with METRICS_TOKEN: without one, the deployment stops here."""
    if settings.DEBUG or settings.METRICS_TOKEN:
        return []
    return [
        Error(
            "METRICS_TOKEN is unset: /metrics (request counts, queue lengths, credits spent) would "
            "refuse every scraper.",
            hint=(
                "Set METRICS_TOKEN to a random value, e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))', and have the scraper send "
                "'Authorization: Bearer <token>'."
            ),
            id="pixelgallery.E002",
        )
    ]


@register(deploy=True)
def image_hosts_loopback_check(app_configs=None, **kwargs) -> list[Error]:
    """With DEBUG off, no image host may be fetched from loopback (a test setting only)."""
    if settings.DEBUG or not settings.PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK:
        return []
    return [
        Error(
            "PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK is set: image URLs on "
            f"{', '.join(settings.PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK)} could reach services on this machine.",
            hint="Leave PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK empty outside tests.",
            id="pixelgallery.E003",
        )
    ]


@register(deploy=True)
def webhook_hosts_loopback_check(app_configs=None, **kwargs) -> list[Error]:
    """With DEBUG off, no webhook may be sent to loopback or over plain HTTP (a test setting only)."""
    if settings.DEBUG or not settings.WEBHOOK_HOSTS_LOOPBACK_OK:
        return []
    return [
        Error(
            "WEBHOOK_HOSTS_LOOPBACK_OK is set: webhooks to "
            f"{', '.join(settings.WEBHOOK_HOSTS_LOOPBACK_OK)} could reach services on this machine.",
            hint="Leave WEBHOOK_HOSTS_LOOPBACK_OK empty outside tests.",
            id="pixelgallery.E004",
        )
    ]
