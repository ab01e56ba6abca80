"""Where to send a person back to: a ``next`` URL is followed only when it stays on this site."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, default: str) -> str:
    """The request's ``next`` (POST, else query string) when it is a URL of this site, else ``default``.

    Off-site URLs (``https://evil.example/``, ``//evil.example/``), other schemes (``javascript:``) and, on an
    HTTPS request, plain-HTTP URLs all fall back to ``default``.
    """
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else default
