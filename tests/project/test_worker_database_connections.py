"""A worker keeps its database connection from task to task, as a web process does between requests.

Celery's Django fixup (what a worker installs) closes every connection before and after each task unless
``CELERY_DB_REUSE_MAX`` is set; the project sets it and closes instead what Django would close after a request
(past ``CONN_MAX_AGE``, or unusable) — see ``pixelgallery/celery.py``.
"""

from __future__ import annotations

import pytest
from celery import signals
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from generations.models import Image
from generations.tasks import persist_image
from pixelgallery.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


def _run_a_task(fixup: DjangoWorkerFixup) -> object:
    """What a worker process does around one task that queries the database; returns the connection used."""
    meta = {"sender": persist_image, "task_id": "t-1", "task": persist_image, "args": (1,), "kwargs": {}}
    fixup.on_task_prerun(sender=persist_image)
    signals.task_prerun.send(**meta)
    Image.objects.count()
    used = connection.connection
    fixup.on_task_postrun(sender=persist_image)
    signals.task_postrun.send(**meta, retval=None, state="SUCCESS")
    return used


@pytest.mark.parametrize(("max_age", "reused"), [(60, True), (0, False)])
def test_a_worker_reuses_its_connection_unless_conn_max_age_is_zero(monkeypatch, max_age, reused):
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", max_age)
    connection.close()
    fixup = DjangoWorkerFixup(app)

    first, second = _run_a_task(fixup), _run_a_task(fixup)

    assert first is not None and (first is second) is reused
    assert (connection.connection is not None) is reused  # idle between tasks: kept open, or closed
