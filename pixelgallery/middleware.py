"""Request id, access log and HTTP metrics for every request; the probe and metrics endpoints.

These sit at the top of ``MIDDLEWARE``, before ``SecurityMiddleware``: probes answer over plain HTTP and for
any ``Host`` (orchestrators call them by address, inside the network), and never touch sessions or users.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from pixelgallery import health, metrics
from pixelgallery.logging import request_id_var

logger = logging.getLogger("pixelgallery.request")

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": health.liveness,
    "/readyz": health.readiness,
    "/metrics": metrics.metrics_view,
}


def request_id_for(request: HttpRequest) -> str:
    """The caller's ``X-Request-ID`` when it looks like an id (a proxy's), otherwise a new one."""
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    return offered if _SANE_REQUEST_ID.match(offered) else uuid.uuid4().hex


class RequestIdMiddleware:
    """A request id in a context variable for the logs (and queued tasks), echoed in the response; one
    access log line per request (probes and scrapes at DEBUG)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.request_id = request_id_for(request)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            logger.log(
                logging.DEBUG if request.path_info in PROBES else logging.INFO,
                "%s %s %s %.1fms",
                request.method,
                request.path,
                response.status_code,
                duration_ms,
                extra={
                    "http_method": request.method,
                    "path": request.path,  # never the query string: it may hold tokens
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                },
            )
            return response
        finally:
            request_id_var.reset(token)


class MetricsMiddleware:
    """Counts every response by method and status, and times it (``pixelgallery_http_*``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        metrics.observe_request(request.method or "", response.status_code, time.perf_counter() - started)
        return response


class ProbeMiddleware:
    """Answers ``/healthz``, ``/readyz`` and ``/metrics`` (GET/HEAD), uncached, before anything else runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = PROBES.get(request.path_info)
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        response = view(request)
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response
