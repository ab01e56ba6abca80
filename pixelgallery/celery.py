"""The Celery application; configuration comes from Django settings prefixed ``CELERY_``."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery, signals

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


def ensure_broker_folders() -> None:
    """Create the folders the embedded filesystem broker reads and writes, if it is in use."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
