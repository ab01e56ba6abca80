"""The site's own error pages (wired in ``pixelgallery.urls`` and ``CSRF_FAILURE_VIEW``).

403 and 404 are Django's own views rendering ``403.html`` (with ``PermissionDenied``'s message as the reason)
and ``404.html``. The 500 page and the CSRF failure page are rendered here.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseServerError
from django.shortcuts import render
from django.template import loader

from pixelgallery.logging import request_id_var

logger = logging.getLogger(__name__)

# When even the template fails (a broken static manifest, a missing template): still a page, never a blank.
BARE_500 = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Something went wrong · PixelGallery"
    "</title></head><body><h1>Something went wrong on our side</h1><p>Please try again in a moment.</p>"
    "</body></html>"
)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: the page in the site's layout from static values only — no request context, no
    database (either may be what failed)."""
    try:
        page = loader.get_template("500.html").render({"request_id": request_id_var.get()})
    except Exception:
        logger.exception("the 500 page could not be rendered")
        page = BARE_500
    return HttpResponseServerError(page)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: what happened and what to do, in the site's layout (Django logs the reason)."""
    try:
        return render(request, "403_csrf.html", status=403)
    except Exception:
        logger.exception("the CSRF failure page could not be rendered")
        return HttpResponseForbidden("This form could not be sent: reload the page and try again.\n")
