"""Shared fixtures: a real sandbox over HTTP, a real Celery worker, real files in a temporary storage."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls from tests are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.contrib.auth import get_user_model

from generations.ratelimit import limiter_from_settings
from sandbox.config import KeyPlan, SandboxConfig
from sandbox.server import SandboxServer

SANDBOX_KEY = "sandbox-key"
PASSWORD = "correct horse battery staple"


def _empty_the_cache() -> None:
    """Delete the cache's own keys. On Redis the cache shares the run's claimed database with the broker and
    the claim mark, which ``cache.clear()`` (FLUSHDB) would wipe too: queued messages, and the mark that
    keeps another test run from claiming the same database."""
    from django.conf import settings
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]  # the backend itself: ``django.core.cache.cache`` is a proxy, no RedisCache

    if not isinstance(cache, RedisCache):
        cache.clear()
        return
    import redis

    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    try:
        keys = list(client.scan_iter(match=cache.make_key("*"), count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Each test starts with an empty cache (settings.CACHES): rolled-back rows reuse ids, and a value
    cached for one test's user must not show in another's header."""
    _empty_the_cache()
    yield
    _empty_the_cache()


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
    limiter_from_settings().reset()  # no rate-limit window left behind in Redis or in a file
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


def _configure_celery_for_tests():
    """The project's Celery app on the run's broker (``tests/pytest_env.py`` chose it), set up once at import
    so that no test sees the configuration change under it."""
    from pixelgallery.celery import app

    assert app.conf.broker_url == os.environ["CELERY_BROKER_URL"]
    app.conf.broker_transport_options = {"polling_interval": 0.05}  # an idle worker notices work at once
    app.conf.task_always_eager = False
    return app


CELERY_APP = _configure_celery_for_tests()


@pytest.fixture
def celery_app_configured():
    return CELERY_APP


def purge_queues(app) -> None:
    """Drop every message waiting in the app's queues (leftovers of an earlier test or an aborted run)."""
    with app.connection_for_write() as connection:
        for queue in {app.conf.task_default_queue, *app.conf.task_queues}:
            with contextlib.suppress(Exception):  # a queue nobody declared yet is fine
                connection.default_channel.queue_purge(queue)


@contextlib.contextmanager
def running_worker(app, queues: list[str]) -> Iterator[object]:
    """A real Celery worker (threads of this process) on ``queues``, stopped on leaving.

    Celery's test worker polls the broker in 2-second rounds and only looks at its stop flag between rounds
    (one more round after it); while it stops, a ping a few times a second wakes each round at once, so
    stopping takes milliseconds instead of four seconds. What starting a worker changes in the process (its
    logging variables, the app's queue selection and includes) is put back.
    """
    from celery.contrib.testing import tasks as celery_test_tasks  # registers celery.ping
    from celery.contrib.testing.worker import start_worker
    from celery.worker import state

    environment, includes = dict(os.environ), app.conf.changes.get("include")
    stopping = threading.Event()

    def wake_the_worker() -> None:
        while not stopping.is_set():
            celery_test_tasks.ping.apply_async(queue=queues[0])
            stopping.wait(0.05)

    waker = threading.Thread(target=wake_the_worker, name="wake-test-worker", daemon=True)
    try:
        with start_worker(
            app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30, queues=queues
        ) as worker:
            yield worker
            state.should_terminate = 0  # what start_worker does next; the pings make it quick
            waker.start()
    finally:
        stopping.set()
        if waker.is_alive():
            waker.join()  # no ping is sent after this: the caller's purge leaves the queues empty
        app.amqp.queues.select(list(app.conf.task_queues))  # a worker on some queues narrows the app's choice
        if includes is None:
            app.conf.changes.pop("include", None)
        else:
            app.conf.include = includes
        os.environ.clear()
        os.environ.update(environment)


@pytest.fixture
def celery_worker(celery_app_configured, transactional_db, sandbox):
    """A real Celery worker consuming every queue (celery, pixeldojo, downloads), for whole pipelines."""
    purge_queues(celery_app_configured)
    with running_worker(celery_app_configured, list(celery_app_configured.conf.task_queues)) as worker:
        yield worker
    purge_queues(celery_app_configured)


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
