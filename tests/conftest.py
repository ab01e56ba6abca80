"""Shared fixtures: a real sandbox over HTTP, a real Celery worker, real files in a temporary storage."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls from tests are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.contrib.auth import get_user_model

from generations.ratelimit import limiter_from_settings
from sandbox.config import KeyPlan, SandboxConfig
from sandbox.server import SandboxServer

SANDBOX_KEY = "sandbox-key"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Real password checks, without PBKDF2's deliberate slowness."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def sandbox_server():
    """One sandbox HTTP server for the session, on an ephemeral loopback port."""
    server = SandboxServer(
        host="127.0.0.1", port=0, config=SandboxConfig(keys={SANDBOX_KEY: KeyPlan(rpm=10_000)})
    ).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server, settings):
    """The sandbox, reset, with the app pointed at it."""
    sandbox_server.reset()
    settings.PIXELDOJO_BASE_URL = sandbox_server.base_url
    settings.PIXELDOJO_API_KEY = SANDBOX_KEY
    settings.PIXELDOJO_USES_SANDBOX = True
    settings.PIXELDOJO_RATE_LIMIT_RPM = 10_000
    settings.PIXELDOJO_RATE_LIMIT_NAME = f"test-{uuid.uuid4().hex}"
    limiter_from_settings().reset()
    yield sandbox_server
    sandbox_server.reset()


@pytest.fixture(autouse=True)
def media_storage(settings, tmp_path):
    """Each test stores files in its own temporary folder, through Django's storage API."""
    location = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location), "base_url": "/media/"},
        },
    }
    return location


@pytest.fixture(scope="session")
def celery_app_configured():
    """The project's Celery app on a test broker: Redis when CELERY_BROKER_URL says so, else in-memory."""
    from pixelgallery.celery import app

    app.conf.broker_url = os.environ.get("CELERY_BROKER_URL") or "memory://"
    app.conf.broker_transport_options = {}
    app.conf.task_always_eager = False
    return app


@pytest.fixture
def celery_worker(celery_app_configured, transactional_db, sandbox):
    """A real Celery worker thread consuming from the broker, for tests that run whole pipelines."""
    from celery.contrib.testing.worker import start_worker

    app = celery_app_configured
    with app.connection_for_write() as connection:
        for queue in app.conf.task_queues or [app.conf.task_default_queue]:
            with contextlib.suppress(Exception):  # leftovers of an aborted run; absent queues are fine
                connection.default_channel.queue_purge(getattr(queue, "name", queue))
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        shutdown_timeout=30,
        queues=list(app.conf.task_queues),  # celery, pixeldojo, downloads: this worker runs every task
    ) as worker:
        yield worker


@pytest.fixture
def make_user(db):
    def make(username: str = "alice") -> object:
        return get_user_model().objects.create_user(username=username, password=PASSWORD)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


def wait_for(predicate: Callable[[], object], *, timeout: float = 20.0, interval: float = 0.1) -> object:
    """Poll ``predicate`` until it returns something truthy; fail the test with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s: {predicate.__doc__ or predicate}")


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright; the suite fails loudly when it is missing."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if path is None:
        pytest.fail("Chromium is not installed: `bin/test` installs it with apt (package chromium).")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()
