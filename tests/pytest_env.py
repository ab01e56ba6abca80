"""Loaded first by pytest (``-p tests.pytest_env``): the test run's own world, set before Django starts.

* Plain HTTP and static files from their sources (no HTTPS redirect, no hashed manifest), and a database
  connection per request: production defaults stay on everywhere else.
* ``PIXELGALLERY_VAR_DIR`` is a fresh temporary folder (the SQLite test database, file rate limiters), removed
  at the end, so a run leaves the checkout as it found it and never sees an earlier run's leftovers.
* The broker: ``CELERY_BROKER_URL`` when the caller set one; else, when ``TEST_REDIS_URL`` names a Redis
  server, a database of it that nobody uses (claimed for this run, emptied at the end); else in-memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from urllib.parse import urlsplit

import pytest

from tools.processes import RedisDatabase, claim_redis_database

os.environ.setdefault("DJANGO_SECURE", "0")
os.environ.setdefault("DJANGO_STATIC_MANIFEST", "0")
# Each request closes its connection: the live server's request threads would otherwise keep theirs open to
# the end of the run, and PostgreSQL refuses to drop the test database while they are ("being accessed by
# other users"). The production default (60 s) is tested in tests/project/test_settings_connections_cache.py.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")

_redis: RedisDatabase | None = None
if not os.environ.get("CELERY_BROKER_URL"):
    if os.environ.get("TEST_REDIS_URL"):
        try:
            _redis = claim_redis_database(os.environ["TEST_REDIS_URL"])
        except Exception as exc:
            raise RuntimeError(f"TEST_REDIS_URL names a Redis server the tests cannot use: {exc}") from exc
        os.environ["CELERY_BROKER_URL"] = _redis.url
    else:
        os.environ["CELERY_BROKER_URL"] = "memory://"

_var_dir = tempfile.mkdtemp(prefix="pixelgallery-test-var-")
os.environ["PIXELGALLERY_VAR_DIR"] = _var_dir


def pytest_report_header(config: pytest.Config) -> str:
    broker = urlsplit(os.environ["CELERY_BROKER_URL"])
    where = f"{broker.scheme}://{broker.netloc.rpartition('@')[2]}{broker.path}"  # never a password
    database = "PostgreSQL (DATABASE_URL)" if os.environ.get("DATABASE_URL") else "SQLite"
    return f"pixelgallery: database {database}, broker {where}, var {_var_dir}"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _redis is not None:
        _redis.release()
    shutil.rmtree(_var_dir, ignore_errors=True)
