"""The environment of real worker processes started by a test: its database, broker, sandbox and storage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tools.processes import child_env, database_url


def worker_process_env(*, sandbox_url: str, media_root: Path, **overrides: str | None) -> dict[str, str]:
    """Env for a worker process sharing this test's world; skips the test without a shared Redis broker."""
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith(("redis://", "rediss://")):
        pytest.skip("needs a shared Redis broker and limiter (CI provides one)")
    media_root.mkdir(parents=True, exist_ok=True)
    return child_env(
        {
            "DATABASE_URL": database_url(connection.settings_dict),
            "CELERY_BROKER_URL": broker,
            "PIXELDOJO_RATE_LIMIT_REDIS_URL": settings.PIXELDOJO_RATE_LIMIT_REDIS_URL or None,
            "MEDIA_ROOT": str(media_root),
            "AWS_STORAGE_BUCKET_NAME": None,  # local files under MEDIA_ROOT, like the media_storage fixture
            "PIXELDOJO_API_KEY": None,  # the sandbox key
            "PIXELDOJO_BASE_URL": sandbox_url,
            "PIXELDOJO_RATE_LIMIT_NAME": settings.PIXELDOJO_RATE_LIMIT_NAME,  # reset by the sandbox fixture
            "PIXELDOJO_RATE_LIMIT_RPM": str(settings.PIXELDOJO_RATE_LIMIT_RPM),
            "LOG_LEVEL": "INFO",
            "WORKER_METRICS_PORT": None,  # no metrics port per worker
            **overrides,
        }
    )
