"""Liveness (``/healthz``) and readiness (``/readyz``) probes, served by ``ProbeMiddleware``.

Liveness says the process answers; it touches nothing else. Readiness checks what a request or a task needs
(database, broker, storage) concurrently, each within ``READYZ_TIMEOUT_SECONDS``, and reports each with its
time: 200 when all are fine, 503 otherwise. Answers hold no configuration and no error messages (those go to
the log), only the kind of failure.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)

PROBE_CONTENT = b"ok"


def liveness(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def check_database() -> None:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            if cursor.fetchone() != (1,):
                raise RuntimeError("SELECT 1 returned something else")
    finally:
        connection.close()  # checks run in their own thread: leave no connection behind


def check_broker(timeout: float) -> None:
    """Connect to the broker the Celery app publishes to, and open a channel (a round trip for Redis)."""
    from pixelgallery.celery import app

    with app.connection_for_write(connect_timeout=timeout) as connection:
        connection.ensure_connection(max_retries=0, timeout=timeout)
        connection.default_channel  # noqa: B018 (opening the channel is the check)


def check_storage() -> None:
    """Write, read back and delete a tiny file through the default storage (local folder or bucket)."""
    from django.core.files.storage import default_storage

    name = default_storage.save(f"readyz/{uuid.uuid4().hex}.txt", ContentFile(PROBE_CONTENT))
    try:
        with default_storage.open(name, "rb") as probe:
            if probe.read() != PROBE_CONTENT:
                raise RuntimeError("the probe file read back differs")
    finally:
        default_storage.delete(name)


def run_checks(checks: dict[str, Callable[[], None]], *, timeout: float) -> dict[str, dict]:
    """Run the checks concurrently; one that has not finished within ``timeout`` seconds has failed."""
    results: dict[str, dict] = {}
    lock = threading.Lock()

    def run(name: str, check: Callable[[], None]) -> None:
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            outcome = {"ok": False, "error": type(exc).__name__}
            logger.warning("readiness check %s failed: %s", name, exc, exc_info=True)
        else:
            outcome = {"ok": True}
        outcome["ms"] = round((time.perf_counter() - started) * 1000, 1)
        with lock:
            results.setdefault(name, outcome)

    threads = [
        threading.Thread(target=run, args=(name, check), name=f"readyz-{name}", daemon=True)
        for name, check in checks.items()
    ]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        for name in checks:
            if name not in results:
                logger.warning("readiness check %s did not answer within %.1f s", name, timeout)
                results[name] = {"ok": False, "error": "timeout", "ms": round(timeout * 1000, 1)}
        return {name: results[name] for name in checks}


def readiness(request: HttpRequest) -> JsonResponse:
    timeout = settings.READYZ_TIMEOUT_SECONDS
    results = run_checks(
        {
            "database": check_database,
            "broker": lambda: check_broker(timeout),
            "storage": check_storage,
        },
        timeout=timeout,
    )
    ready = all(result["ok"] for result in results.values())
    return JsonResponse(results, status=200 if ready else 503)
