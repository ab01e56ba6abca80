"""The shared limiter: never above the limit across processes, busy at the limit under a backlog, quick on a
first start, and never past what PixelDojo's X-RateLimit-* headers allow."""

from __future__ import annotations

import json
import multiprocessing
import os
import socketserver
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from django.db import DatabaseError
from django.utils import timezone
from requests.structures import CaseInsensitiveDict

from generations import ratelimit
from generations.ratelimit import (
    MAX_PROVIDER_RESET_SECONDS,
    FileRateLimiter,
    ProviderLimit,
    RedisRateLimiter,
    Window,
    acquire,
    limiter_from_settings,
    recorded_call_times,
)
from sandbox.config import KeyPlan

LIMIT = 5
WINDOW = 1.0  # the window "PixelDojo" counts in
MARGIN = 0.03  # the limiter's window is this much wider, as in production, to absorb scheduling jitter
RUN_SECONDS = 3.3
PROCESSES = 3


def redis_url() -> str:
    """The test run's Redis database (its broker's), claimed for the run by tests/pytest_env.py."""
    return os.environ["CELERY_BROKER_URL"]


@pytest.fixture
def redis_client():
    if not redis_url().startswith(("redis://", "rediss://")):
        pytest.skip("needs a Redis broker (CI's second run has one)")
    return redis.Redis.from_url(redis_url())


def _hammer(kind: str, target: str, name: str, ready, go, stop_at, out) -> None:
    """A worker process: once every process is ready, take slots as fast as the limiter allows until
    ``stop_at`` (a shared value the parent sets when it says go).

    It imports this module without Django set up: the tests import models (and conftest) inside themselves.
    """
    window = Window(limit=LIMIT, seconds=WINDOW + MARGIN)
    if kind == "redis":
        limiter = RedisRateLimiter(redis.Redis.from_url(target), name=name, window=window)
    else:
        limiter = FileRateLimiter(Path(target), window=window)
    ready.put(True)
    go.wait(timeout=60)
    taken = []
    while time.time() < stop_at.value:
        if (
            acquire(limiter, max_wait=max(0.0, stop_at.value - time.time())) == 0
            and time.time() < stop_at.value
        ):
            taken.append(time.time())
    out.put(taken)


def run_processes(kind: str, target: str, name: str) -> list[float]:
    """Slot times taken by ``PROCESSES`` processes hammering one limiter for ``RUN_SECONDS``, counted from
    when all of them have started (on a loaded machine, spawning alone can take seconds)."""
    ctx = multiprocessing.get_context("spawn")
    ready, out, go, stop_at = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    procs = [
        ctx.Process(target=_hammer, args=(kind, target, name, ready, go, stop_at, out))
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=60)
    stop_at.value = time.time() + RUN_SECONDS
    go.set()
    taken = sorted(t for _ in procs for t in out.get(timeout=30))
    for proc in procs:
        proc.join(timeout=10)
    return taken


def max_in_any_window(times: list[float], width: float) -> int:
    return max(sum(1 for u in times if t <= u < t + width) for t in times)


def assert_saturated_but_never_above(times: list[float]) -> None:
    assert max_in_any_window(times, WINDOW) <= LIMIT
    span = times[-1] - times[0]
    assert span >= 2 * WINDOW
    # Under a backlog the limiter keeps the rate at >= 95 % of the allowed one (first burst left out).
    assert (len(times) - LIMIT) / span * WINDOW >= 0.95 * LIMIT


def test_redis_limiter_holds_across_processes(redis_client):
    name = f"test-{uuid.uuid4().hex}"
    RedisRateLimiter(redis_client, name=name, window=Window(LIMIT, WINDOW + MARGIN)).reset()
    assert_saturated_but_never_above(run_processes("redis", redis_url(), name))


def test_file_limiter_holds_across_processes(tmp_path):
    assert_saturated_but_never_above(run_processes("file", str(tmp_path / "window.json"), "file"))


def test_acquire_gives_up_after_max_wait(tmp_path, monkeypatch):
    limiter = FileRateLimiter(tmp_path / "w.json", window=Window(1, 10.0))
    assert acquire(limiter, max_wait=0.1) == 0
    sleeps: list[float] = []
    clock = SimpleNamespace(time=time.time, monotonic=time.monotonic, sleep=sleeps.append)
    monkeypatch.setattr(ratelimit, "time", clock)  # the limiter module's clock: records sleeps, never sleeps
    remaining = acquire(limiter, max_wait=0.2)
    assert 9.0 < remaining <= 10.0
    assert sleeps == []  # a wait beyond its budget is handed back at once, not slept


# --- A first start, and a Redis that lost its data ----------------------------------------------------------


def _unreadable(seconds: float, limit: int) -> list[float]:
    raise DatabaseError("the database is down")


@pytest.fixture
def lost_window(redis_client):
    """``lost_window(window, history)``: two workers' limiters on a window Redis does not hold (never used,
    or flushed), reading the record of recent calls with ``history``."""
    made: list[RedisRateLimiter] = []

    def make(window: Window, history=recorded_call_times) -> tuple[RedisRateLimiter, RedisRateLimiter]:
        name = f"test-{uuid.uuid4().hex}"
        pair = tuple(RedisRateLimiter(redis_client, name=name, window=window, history=history) for _ in "ab")
        assert not redis_client.exists(pair[0].key, pair[0].epoch_key)
        made.extend(pair)
        return pair

    yield make
    for limiter in made:
        redis_client.delete(limiter.key, limiter.epoch_key, limiter.budget_key)


@pytest.mark.django_db
def test_never_used_redis_lets_the_first_call_go_at_once(lost_window, alice):
    from tests.generations.factories import make_generation  # see the note on _hammer

    make_generation(alice, called_at=timezone.now() - timedelta(minutes=5))  # a call long before this window
    limiter, other = lost_window(Window(1, 60.0))
    started = time.monotonic()
    assert acquire(limiter, max_wait=90) == 0
    assert time.monotonic() - started < 1
    assert other.try_acquire() > 59  # the window is in use from now on: the one slot is taken


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ages", "free_now", "then_wait"),
    [((1, 2, 3), 0, (6, 7)), ((1, 2), 1, (7, 8)), ((20, 30, 40), 3, (9, 10))],
    ids=["a-full-window-recorded", "two-recorded", "calls-older-than-the-window"],
)
def test_a_flushed_redis_counts_the_calls_the_database_recorded(
    lost_window, alice, ages, free_now, then_wait
):
    from tests.generations.factories import make_generation  # see the note on _hammer

    now = timezone.now()
    for age in ages:  # calls made 1, 2, 3 … seconds ago, as the workers recorded them
        make_generation(alice, called_at=now - timedelta(seconds=age))
    limiters = lost_window(Window(3, 10.0))
    for turn in range(free_now):  # the two workers take what the rebuilt window leaves
        assert limiters[turn % 2].try_acquire() == 0
    low, high = then_wait  # until the oldest counted call leaves the 10 s window
    assert low < limiters[free_now % 2].try_acquire() <= high
    assert low < limiters[(free_now + 1) % 2].try_acquire() <= high


@pytest.mark.parametrize("history", [None, _unreadable], ids=["no-record", "record-unreadable"])
def test_a_lost_window_without_evidence_is_treated_as_full(lost_window, history):
    limiter, _other = lost_window(Window(3, 2.0), history=history)
    wait = limiter.try_acquire()
    assert 1.5 < wait <= 2.0  # the unknown history may hold a full window: wait it out
    limiter.reset()  # an operator's decision: the window starts empty
    assert limiter.try_acquire() == 0


def test_a_missing_window_file_is_a_window_never_used(tmp_path):
    limiter = FileRateLimiter(tmp_path / "never-used.json", window=Window(1, 60.0))
    assert limiter.try_acquire() == 0
    assert limiter.try_acquire() > 59


# --- PixelDojo's X-RateLimit-* headers ----------------------------------------------------------------------

NOW = 1_764_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "42"}, (3, 42.0)),
        ({"x-ratelimit-remaining": " 0 ", "x-ratelimit-reset": "1.5"}, (0, 1.5)),
        ({"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": str(int(NOW) + 20)}, (7, 20.0)),
        ({"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": str(NOW + 0.5)}, (7, 0.5)),
        ({"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": str(int(NOW) - 30)}, (7, 0.0)),  # already past
        ({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "86400"}, (5, 86400.0)),  # capped by the limiter
        ({}, None),
        ({"X-RateLimit-Limit": "10"}, None),
        ({"X-RateLimit-Remaining": "3"}, None),
        ({"X-RateLimit-Reset": "42"}, None),
        ({"X-RateLimit-Remaining": "many", "X-RateLimit-Reset": "42"}, None),
        ({"X-RateLimit-Remaining": "2.5", "X-RateLimit-Reset": "42"}, None),
        ({"X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": "42"}, None),
        ({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "soon"}, None),
        ({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "-5"}, None),
        ({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "nan"}, None),
        ({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "inf"}, None),
        ({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
    ],
)
def test_rate_limit_headers_are_read_as_seconds_or_a_unix_time(headers, expected):
    limit = ProviderLimit.from_headers(CaseInsensitiveDict(headers), now=NOW)
    assert limit == (None if expected is None else ProviderLimit(*expected))


def test_a_unix_reset_is_read_against_the_clock():
    limit = ProviderLimit.from_headers(
        CaseInsensitiveDict({"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": str(int(time.time()) + 30)})
    )
    assert limit is not None and 28 < limit.reset_seconds <= 30


@pytest.fixture(params=["redis", "file"])
def shared_window(request, tmp_path):
    """``shared_window(window)`` gives another limiter on one fresh window, as another worker holds it."""
    if request.param == "file":
        yield lambda window: FileRateLimiter(tmp_path / "window.json", window=window)
        return
    client = request.getfixturevalue("redis_client")
    name = f"test-{uuid.uuid4().hex}"
    keys = RedisRateLimiter(client, name=name, window=Window(1, 1.0))
    keys.reset()
    yield lambda window: RedisRateLimiter(client, name=name, window=window)
    client.delete(keys.key, keys.epoch_key, keys.budget_key)


def test_nothing_remaining_makes_every_worker_wait_until_the_reset(shared_window):
    window = Window(10, 60.0)
    first, second = shared_window(window), shared_window(window)
    first.observe(ProviderLimit(remaining=0, reset_seconds=2.0))
    assert 1.8 < second.try_acquire() <= 2.0
    assert 1.8 < first.try_acquire() <= 2.0
    started = time.monotonic()
    assert acquire(second, max_wait=5) == 0
    assert 1.8 < time.monotonic() - started < 3.0


def test_two_remaining_allow_exactly_two_more_calls(shared_window):
    window = Window(10, 60.0)
    first, second = shared_window(window), shared_window(window)
    first.observe(ProviderLimit(remaining=2, reset_seconds=5.0))
    assert second.try_acquire() == 0
    assert first.try_acquire() == 0
    assert 4.5 < second.try_acquire() <= 5.0
    assert 4.5 < first.try_acquire() <= 5.0


def test_calls_sent_after_the_answered_one_count_against_what_pixeldojo_reported(shared_window):
    window = Window(10, 60.0)
    first, second, third = shared_window(window), shared_window(window), shared_window(window)
    assert first.try_acquire() == 0  # first's call ...
    assert second.try_acquire() == 0  # ... and second's, which PixelDojo may not have counted yet
    first.observe(ProviderLimit(remaining=2, reset_seconds=5.0))  # PixelDojo's answer to first's call
    assert third.try_acquire() == 0
    assert 4.5 < third.try_acquire() <= 5.0


def test_an_answer_to_an_earlier_call_does_not_overrule_a_later_ones(shared_window):
    window = Window(10, 60.0)
    first, second, third = shared_window(window), shared_window(window), shared_window(window)
    assert first.try_acquire() == 0
    assert second.try_acquire() == 0
    second.observe(ProviderLimit(remaining=1, reset_seconds=5.0))  # PixelDojo had counted both calls
    first.observe(ProviderLimit(remaining=1, reset_seconds=5.0))  # so had it for this answer, heard last
    assert third.try_acquire() == 0
    assert 4.5 < third.try_acquire() <= 5.0


def test_headers_never_lift_the_limit_of_the_window(shared_window):
    window = Window(2, 3.0)
    first, second = shared_window(window), shared_window(window)
    first.observe(ProviderLimit(remaining=100, reset_seconds=60.0))
    assert first.try_acquire() == 0
    assert second.try_acquire() == 0
    assert 2.5 < second.try_acquire() <= 3.0


def test_an_absurd_reset_is_honoured_for_five_minutes_at_most(shared_window):
    window = Window(10, 60.0)
    first, second = shared_window(window), shared_window(window)
    first.observe(ProviderLimit(remaining=0, reset_seconds=1_764_000_000.0))  # a Unix time in milliseconds
    assert MAX_PROVIDER_RESET_SECONDS == 300
    assert 299 < second.try_acquire() <= 300


def test_a_reset_now_or_an_operators_reset_forgets_pixeldojos_count(shared_window):
    window = Window(10, 60.0)
    first, second = shared_window(window), shared_window(window)
    first.observe(ProviderLimit(remaining=0, reset_seconds=60.0))
    first.observe(None)  # an answer without the headers changes nothing
    assert second.try_acquire() > 59
    second.observe(ProviderLimit(remaining=0, reset_seconds=0.0))
    assert first.try_acquire() == 0
    first.observe(ProviderLimit(remaining=0, reset_seconds=60.0))
    second.reset()
    assert first.try_acquire() == 0


# --- The client reads the headers of every answer ----------------------------------------------------------

RESULT = {"id": "gen_1", "created": 1_764_000_000, "images": ["https://x/1.png"], "model": "m", "prompt": "p"}
HEADERS = {
    "X-RateLimit-Limit": "10",
    "X-RateLimit-Remaining": "4",
    "X-RateLimit-Reset": "30",
    "Retry-After": "30",
}
SAID = ProviderLimit(remaining=4, reset_seconds=30.0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    answer: tuple[int, dict[str, str], bytes] = (200, {}, b"")

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's getfqdn() DNS lookup
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, body = self.server.answer
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def answering_server():
    """A loopback HTTP server answering every POST with ``server.answer`` (status, headers, body)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


@pytest.mark.parametrize(
    ("status", "headers", "body", "error", "expected"),
    [
        (200, HEADERS, json.dumps(RESULT), None, SAID),
        (200, {}, json.dumps(RESULT), None, None),
        (429, {**HEADERS, "X-RateLimit-Remaining": "0"}, "{}", "RateLimited", ProviderLimit(0, 30.0)),
        (500, HEADERS, '{"error": "server_error"}', "ServerError", SAID),
        (500, {}, '{"error": "server_error"}', "ServerError", None),
        (200, HEADERS, "<html>busy</html>", "UnexpectedResponse", SAID),
        (200, HEADERS, '{"error": {"code": "server_error"}}', "ServerError", SAID),
        (200, HEADERS, '{"images": "none"}', "UnexpectedResponse", SAID),
    ],
    ids=[
        "2xx",
        "2xx-without-headers",
        "429",
        "5xx",
        "5xx-without-headers",
        "2xx-html",
        "2xx-error",
        "2xx-unreadable",
    ],
)
def test_the_client_hands_the_headers_of_every_answer_on(
    answering_server, status, headers, body, error, expected
):
    from generations import pixeldojo  # see the note on _hammer

    answering_server.answer = (status, headers, body.encode())
    client = pixeldojo.PixelDojoClient(
        base_url=f"http://127.0.0.1:{answering_server.server_port}", api_key="k"
    )
    request = pixeldojo.GenerationRequest(prompt="p", model="flux-pro")
    if error is None:
        assert client.generate(request).rate_limit == expected
    else:
        with pytest.raises(getattr(pixeldojo, error)) as caught:
            client.generate(request)
        assert caught.value.rate_limit == expected


# --- Through a real worker against the sandbox ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("style", ["none", "seconds", "epoch"])
def test_workers_stop_where_the_sandbox_headers_say_its_count_ends(
    celery_worker, alice, sandbox, settings, style
):
    """The app's limiter allows far more than the key's 3 a minute: only the headers keep it from a 429."""
    from generations import pixeldojo, services  # see the note on _hammer
    from generations.models import Generation
    from tests.conftest import SANDBOX_KEY, wait_for

    sandbox.configure(keys={SANDBOX_KEY: KeyPlan(rpm=3)}, rate_limit_headers=style)
    settings.PIXELDOJO_RATE_WAIT_MAX_SECONDS = 1.0  # a worker hands a long wait back to Celery
    params = pixeldojo.GenerationRequest(prompt="a lighthouse at dawn", model="flux-pro", megapixels="0.25")
    generations = [services.generation_submit(user=alice, params=params) for _ in range(4)]
    ids = [generation.id for generation in generations]

    def three_done():
        """three generations were answered and stored"""
        return Generation.objects.filter(id__in=ids, status="done").count() == 3

    wait_for(three_done, timeout=30)
    if style == "none":  # without the headers the fourth call goes out, and the sandbox refuses it

        def refused():
            """the sandbox answered 429"""
            return sandbox.stats()["flux_by_status"].get("429")

        wait_for(refused, timeout=10)
        return
    time.sleep(1.5)  # time enough for a fourth call to go out, if the limiter let it
    stats = sandbox.stats()
    assert stats["flux_requests"] == 3 and "429" not in stats["flux_by_status"]
    assert Generation.objects.filter(id__in=ids, status="queued", attempts=0).count() == 1
    assert 50 < limiter_from_settings().try_acquire() <= 61  # every worker waits for the sandbox's window
