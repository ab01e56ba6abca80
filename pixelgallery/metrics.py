"""Prometheus metrics (``/metrics``, served by ``ProbeMiddleware``), with ``prometheus_client``.

Two kinds of numbers:

- counted in the process: HTTP requests (``MetricsMiddleware``) and Celery task durations (task signals). With
  several processes (gunicorn workers, a prefork Celery pool) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty
  directory shared by them (and by the worker when it runs on the same host): ``prometheus_client`` then keeps
  the values in files there and ``/metrics`` adds them up. Without it each process reports only its own.
- read at scrape time from the database and the broker, so they are right whichever process answers: the
  length of each Celery queue (Redis ``LLEN``; NaN for other brokers), and what the apps register with
  ``register_scrape_collector`` from their ``AppConfig.ready()``: generations and images by status (one
  ``GROUP BY`` each) and stored bytes (``generations/metrics.py``), credits spent (``credits/metrics.py``).

The scraper sends ``Authorization: Bearer <METRICS_TOKEN>``. Without a token /metrics is open only with DEBUG
on (development); otherwise it refuses every request (and ``check --deploy`` reports pixelgallery.E002).
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    start_http_server,
)
from prometheus_client import generate_latest as render
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

http_requests = Counter(
    "pixelgallery_http_requests",
    "HTTP responses sent, by request method and status code.",
    ["method", "status"],
)
http_request_duration = Histogram(
    "pixelgallery_http_request_duration_seconds",
    "Time from request to response (not counting streaming), by request method.",
    ["method"],
)
task_duration = Histogram(
    "pixelgallery_celery_task_duration_seconds",
    "Celery task run time, by task and final state (SUCCESS, RETRY, FAILURE, ...).",
    ["task", "state"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, math.inf),
)


def observe_request(method: str, status: int, seconds: float) -> None:
    method = method if method in HTTP_METHODS else "other"  # clients choose methods: bound the labels
    http_requests.labels(method=method, status=str(status)).inc()
    http_request_duration.labels(method=method).observe(seconds)


# --- Celery task durations (signals connected in pixelgallery/celery.py). -------------------------------

_task_started: dict[str, float] = {}


def task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


def task_finished(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    started = _task_started.pop(task_id, None) if task_id else None
    if started is not None and task is not None:
        task_duration.labels(task=task.name, state=state or "UNKNOWN").observe(time.perf_counter() - started)


def start_worker_exporter(**_: Any) -> Any:
    """``worker_init``: with ``WORKER_METRICS_PORT`` set, a worker serves its task durations itself.

    For a worker that does not share ``PROMETHEUS_MULTIPROC_DIR`` with web (another container). A prefork pool
    needs ``PROMETHEUS_MULTIPROC_DIR`` in the worker too, for its child processes' numbers to add up here.
    """
    port = os.environ.get("WORKER_METRICS_PORT", "").strip()
    if not port:
        return None
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    address = os.environ.get("WORKER_METRICS_ADDRESS", "0.0.0.0")  # noqa: S104 (a container's port)
    server, _thread = start_http_server(int(port), addr=address, registry=registry)
    logger.info("worker metrics on %s:%s/metrics", address, server.server_port)
    return server


# --- Read at scrape time. -------------------------------------------------------------------------------


def celery_queue_names(app: Any) -> list[str]:
    """The default queue, the declared queues and the queues tasks are routed to."""
    names = [app.conf.task_default_queue]
    queues = app.conf.task_queues or ()
    names += [getattr(queue, "name", queue) for queue in queues]
    routes = app.conf.task_routes or {}
    if isinstance(routes, dict):
        names += [route["queue"] for route in routes.values() if isinstance(route, dict) and "queue" in route]
    return sorted({name for name in names if isinstance(name, str) and name})


REDIS_PRIORITY_SEPARATOR = "\x06\x16"  # kombu keeps priorities 3, 6 and 9 of a queue in lists of their own
REDIS_PRIORITY_STEPS = (3, 6, 9)


def redis_queue_lengths(url: str, queues: Iterable[str], *, prefix: str = "", timeout: float = 1.0) -> dict:
    """Messages waiting in each Celery queue of a Redis broker (``LLEN``, all priority lists)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.llen(f"{prefix}{queue}")
                for step in REDIS_PRIORITY_STEPS:
                    pipe.llen(f"{prefix}{queue}{REDIS_PRIORITY_SEPARATOR}{step}")
            lengths = pipe.execute()
    finally:
        client.close()
    per_queue = 1 + len(REDIS_PRIORITY_STEPS)
    return {queue: sum(lengths[i * per_queue : (i + 1) * per_queue]) for i, queue in enumerate(queues)}


class QueueCollector:
    """Messages waiting in each Celery queue, asked from the broker at scrape time."""

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        from pixelgallery.celery import app

        family = GaugeMetricFamily(
            "pixelgallery_celery_queue_length",
            "Messages waiting in each Celery queue (Redis LLEN; NaN when the broker is not Redis or down).",
            labels=["queue"],
        )
        queues = celery_queue_names(app)
        url = app.conf.broker_write_url or ""
        lengths: dict[str, float] = dict.fromkeys(queues, math.nan)
        if url.startswith(("redis://", "rediss://", "unix://")):
            prefix = (app.conf.broker_transport_options or {}).get("global_keyprefix", "")
            try:
                lengths.update(redis_queue_lengths(url, queues, prefix=prefix))
            except Exception as exc:  # the scrape still answers; /readyz tells about the broker
                logger.warning("queue length unavailable: %s", type(exc).__name__)
        for queue in queues:
            family.add_metric([queue], lengths[queue])
        yield family


SITE_COLLECTORS = (QueueCollector(),)
_app_collectors: list[Any] = []


def register_scrape_collector(collector: Any) -> None:
    """Read ``collector`` (an object with ``collect()``) at every scrape; apps call it from ``ready()``.

    The site shell imports no app's models: each app brings the numbers it owns. A collector of the same class
    registered again (``ready()`` run twice) replaces nothing and adds nothing.
    """
    if not any(type(known) is type(collector) for known in _app_collectors):
        _app_collectors.append(collector)


class _Guarded:
    """A collector whose failure leaves its metrics out of one scrape instead of failing the scrape."""

    def __init__(self, collector: Any) -> None:
        self.collector = collector

    def collect(self) -> Iterator[Metric]:
        try:
            metrics = list(self.collector.collect())
        except Exception:
            logger.exception("metrics collector %s failed", type(self.collector).__name__)
            metrics = []
        yield from metrics


def scrape() -> bytes:
    """The exposition text: this process's metrics (all processes' in multiprocess mode), then scrape-time."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    scraped = CollectorRegistry()
    for collector in (*_app_collectors, *SITE_COLLECTORS):
        scraped.register(_Guarded(collector))
    return render(processes) + render(scraped)


def authorized(request: HttpRequest) -> bool:
    """The request carries the metrics token; without a token configured, only a DEBUG site is open."""
    token = settings.METRICS_TOKEN
    if not token:
        return settings.DEBUG
    offered = request.headers.get("Authorization", "")
    return hmac.compare_digest(offered.encode(), f"Bearer {token}".encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN and not settings.DEBUG:
        return HttpResponse(
            "Metrics are off: set METRICS_TOKEN to serve them.\n", status=403, content_type="text/plain"
        )
    if not authorized(request):
        response = HttpResponse("A metrics token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
