"""The Celery application; configuration comes from Django settings prefixed ``CELERY_``."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery, signals
from django import db

from pixelgallery import logging as observability_logs
from pixelgallery import metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixelgallery.settings")

app = Celery("pixelgallery")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Observability: workers and beat log through Django's LOGGING; a task's logs carry the request id of whoever
# queued it (a message header); task run times feed /metrics.
signals.setup_logging.connect(observability_logs.celery_setup_logging, dispatch_uid="pixelgallery-logging")
signals.before_task_publish.connect(observability_logs.attach_request_id, dispatch_uid="pixelgallery-rid")
signals.task_prerun.connect(observability_logs.restore_request_id, dispatch_uid="pixelgallery-rid")
signals.task_postrun.connect(observability_logs.clear_request_id, dispatch_uid="pixelgallery-rid")
signals.task_prerun.connect(metrics.task_started, dispatch_uid="pixelgallery-metrics")
signals.task_postrun.connect(metrics.task_finished, dispatch_uid="pixelgallery-metrics")
signals.worker_init.connect(metrics.start_worker_exporter, dispatch_uid="pixelgallery-metrics")


def close_old_database_connections(sender: Any = None, **kwargs: Any) -> None:
    """Before and after each task, as around each web request: close the database connections that are past
    ``CONN_MAX_AGE`` (so every task, when it is 0) or unusable; keep the others (``CELERY_DB_REUSE_MAX``).

    Not for a task run eagerly: it runs inside its caller, whose connection (and transaction) it shares.
    """
    request = getattr(sender, "request", None)
    if not getattr(request, "is_eager", False):
        db.close_old_connections()


signals.task_prerun.connect(close_old_database_connections, dispatch_uid="pixelgallery-db")
signals.task_postrun.connect(close_old_database_connections, dispatch_uid="pixelgallery-db")


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


MALLOC_TRIM = _malloc_trim()


def release_freed_memory(**kwargs: Any) -> None:
    """After each task: give the memory the task freed back to the system.

    glibc keeps freed heap for later: a process that decoded one 4-MP image stayed ~20 MB larger for good
    (``bench/ingest_rate.py``, docs/BENCHMARKS.md, issue 13). The trim takes microseconds; the next image's
    pages are faulted in again (~2-3 ms of a 1-MP image's ~50 ms).
    """
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


signals.task_postrun.connect(release_freed_memory, dispatch_uid="pixelgallery-memory")


def ensure_broker_folders() -> None:
    """Create the folders the embedded filesystem broker reads and writes, if it is in use."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
