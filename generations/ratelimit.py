"""A sliding-window rate limiter shared by every worker process and machine.

PixelDojo allows a fixed number of requests per minute per key. Every worker asks the limiter for a slot
before calling the API. With Redis (production) the window lives in one sorted set, updated atomically by Lua
scripts on Redis' own clock; without Redis (the embedded first run) it lives in a file guarded by ``flock``,
which serialises the processes of one machine.

A small safety margin widens the window so that network jitter between taking a slot and PixelDojo
receiving the request cannot push PixelDojo's own count over the limit.

What PixelDojo says about its own count (``X-RateLimit-Remaining`` / ``-Reset`` on any answer) is handed to
``observe`` after each call: until the reset, every worker takes at most ``remaining`` more slots, less the
slots taken after the answered call's own (PixelDojo may not have counted them yet). The answer to the latest
call wins over one to an earlier call heard late. It can only slow the limiter down: the window still applies.

Beside the window, each limiter keeps a lock of the same reach (``turn``: a Redis lock, or ``flock`` on a
file), under which the fair queue (``generations/selectors_queue.py``) decides whose generation takes the
next slot; ``state`` reads the window without taking anything, for the queue's estimated start times.

After Redis lost its data the window's history is unknown. A Redis that was never used looks the same, so
the database is the evidence: the calls ``Generation.called_at`` recorded in the last window are put back as
slots. Only when that record cannot be read is the window assumed full (the first call then waits it out).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import redis

logger = logging.getLogger(__name__)

# A reset further away than this is honoured as this long. PixelDojo counts per minute, so a longer one is
# more likely milliseconds or a skewed clock than a promise; obeying it would halt every worker (and with
# nothing left nobody calls to hear better). After it one call goes out, and its answer sets the next wait.
MAX_PROVIDER_RESET_SECONDS = 300.0
EPOCH_THRESHOLD = 1e9  # an X-RateLimit-Reset above this is a Unix time, below it seconds from now


@dataclass(frozen=True)
class ProviderLimit:
    """PixelDojo's own count as it answered: ``remaining`` calls allowed in the next ``reset_seconds``."""

    remaining: int
    reset_seconds: float

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], *, now: float | None = None) -> ProviderLimit | None:
        """Read ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (seconds, or a Unix time above 10^9).

        ``headers`` should be case-insensitive (as ``requests`` gives them). None when either is missing or
        garbled; a reset already past counts as 0 s.
        """
        try:
            remaining = int(str(headers.get("X-RateLimit-Remaining", "")).strip())
            reset = float(str(headers.get("X-RateLimit-Reset", "")).strip())
        except ValueError:
            return None
        if remaining < 0 or not math.isfinite(reset) or reset < 0:
            return None
        if reset > EPOCH_THRESHOLD:
            reset -= time.time() if now is None else now
        return cls(remaining=remaining, reset_seconds=max(0.0, reset))


class RateLimiter(Protocol):
    def try_acquire(self) -> float:
        """Take a slot and return 0, or take nothing and return the seconds until one may be free."""

    def observe(self, limit: ProviderLimit | None) -> None:
        """Honour what PixelDojo answered to the call made with this limiter's last slot (None: nothing)."""

    def reset(self) -> None:
        """Forget the window, its history and PixelDojo's count (an operator's or a test's decision)."""

    def state(self) -> LimiterState:
        """The window as it stands, read without taking anything (for estimates)."""

    def turn(self) -> contextlib.AbstractContextManager[None]:
        """A lock every worker sharing this limiter holds while it decides who takes the next slot."""


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: float


@dataclass(frozen=True)
class LimiterState:
    """The window as a worker finds it: how long ago each slot in it was taken, and PixelDojo's own count
    (``provider_remaining`` more calls in the next ``provider_reset`` seconds; None: nothing heard)."""

    window: Window
    slot_ages: tuple[float, ...]
    provider_remaining: int | None = None
    provider_reset: float = 0.0

    def start_offsets(self, count: int) -> list[float]:
        """Seconds from now until each of the next ``count`` calls may have a slot, if each comes as soon as
        the window (and PixelDojo's count) allows: the earliest start of the 1st, 2nd, … call in line."""
        limit, seconds = max(1, self.window.limit), self.window.seconds
        taken = sorted(-age for age in self.slot_ages if age < seconds)  # times relative to now (<= 0)
        starts: list[float] = []
        for number in range(count):
            at = 0.0 if len(taken) < limit else taken[len(taken) - limit] + seconds
            if self.provider_remaining is not None and number >= self.provider_remaining:
                at = max(at, self.provider_reset)
            at = max(at, 0.0)
            taken.append(at)
            starts.append(at)
        return starts


# Unix times of the latest ``limit`` calls made in the last ``seconds``.
CallHistory = Callable[[float, int], Iterable[float]]


def recorded_call_times(seconds: float, limit: int) -> list[float]:
    """The times of the latest ``limit`` PixelDojo calls of the last ``seconds`` (``Generation.called_at``).

    A generation called twice in the window counts once (its last call), so this may miss a retry.
    """
    from django.utils import timezone

    from generations.models import Generation

    since = timezone.now() - timedelta(seconds=seconds)
    called = Generation.objects.filter(called_at__gte=since).order_by("-called_at")
    return [at.timestamp() for at in called.values_list("called_at", flat=True)[:limit]]


def _reset_for(limit: ProviderLimit) -> float:
    if limit.reset_seconds > MAX_PROVIDER_RESET_SECONDS:
        logger.info(
            "PixelDojo's rate limit resets in %.0f s; honoured as %.0f s",
            limit.reset_seconds,
            MAX_PROVIDER_RESET_SECONDS,
        )
    return min(limit.reset_seconds, MAX_PROVIDER_RESET_SECONDS)


# Returns {wait_us, slot_us}: {0, time of the slot taken}, {wait, 0}, or {-1, 0} when the epoch key is
# missing and no history (ARGV[4]) was given: the window's past is unknown, the caller looks it up.
# ARGV[4] "full" fills the window (no evidence); "seen" puts back the call times that follow it (µs).
# The "epoch" key marks an initialised window; concurrent initialisers seed it once.
_ACQUIRE_SCRIPT = """
local key, epoch_key, budget_key = KEYS[1], KEYS[2], KEYS[3]
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2])
local member = ARGV[3]
local history = ARGV[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ttl_ms = math.ceil(window_us / 1000) + 1000
if redis.call('EXISTS', epoch_key) == 0 then
  if history == '' then return {-1, 0} end
  redis.call('SET', epoch_key, now)
  if redis.call('EXISTS', key) == 0 then
    if history == 'full' then
      for i = 1, limit do redis.call('ZADD', key, now, 'restart-' .. i) end
    else
      for i = 5, #ARGV do
        local at = math.min(tonumber(ARGV[i]), now)
        if at > now - window_us then redis.call('ZADD', key, at, 'seen-' .. i) end
      end
    end
    redis.call('PEXPIRE', key, ttl_ms)
  end
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_us)
local budget = tonumber(redis.call('HGET', budget_key, 'remaining') or '')
if budget and budget <= 0 then
  local left_ms = redis.call('PTTL', budget_key)
  if left_ms > 0 then return {math.max(1, left_ms * 1000), 0} end
  redis.call('DEL', budget_key)
  budget = nil
end
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, ttl_ms)
  if budget then redis.call('HINCRBY', budget_key, 'remaining', -1) end
  return {0, now}
end
local frees = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
return {math.max(1, tonumber(frees[2]) + window_us - now), 0}
"""

# PixelDojo's count as of the observed call's slot (ARGV[3], µs; "0": no call known, as of now), less the
# slots taken after it, which PixelDojo may not have counted yet. An answer to an earlier call than the one
# already heard is ignored. The count expires at the reset. (ARGV[3] stays a string: Lua would print a
# 16-digit number rounded.)
_OBSERVE_SCRIPT = """
local key, budget_key = KEYS[1], KEYS[2]
local remaining = tonumber(ARGV[1])
local reset_ms = tonumber(ARGV[2])
local as_of = ARGV[3]
if as_of == '0' then
  local t = redis.call('TIME')
  as_of = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  remaining = remaining - redis.call('ZCOUNT', key, '(' .. as_of, '+inf')
end
local heard = tonumber(redis.call('HGET', budget_key, 'as_of') or '')
if heard and heard > tonumber(as_of) then return 0 end
redis.call('DEL', budget_key)
if reset_ms > 0 then
  redis.call('HSET', budget_key, 'remaining', math.max(0, remaining), 'as_of', as_of)
  redis.call('PEXPIRE', budget_key, reset_ms)
end
return 1
"""


# The slots of the window as ages (µs before Redis' clock), and PixelDojo's count: {remaining or "", pttl
# of the count in ms, age, age, …}. Read only.
_STATE_SCRIPT = """
local key, budget_key = KEYS[1], KEYS[2]
local window_us = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slots = redis.call('ZRANGEBYSCORE', key, now - window_us, '+inf', 'WITHSCORES')
local answer = {redis.call('HGET', budget_key, 'remaining') or '', redis.call('PTTL', budget_key)}
for i = 2, #slots, 2 do answer[#answer + 1] = math.max(0, now - tonumber(slots[i])) end
return answer
"""

TURN_LOCK_SECONDS = 10.0  # the longest a worker holds (or waits for) the turn lock


class RedisRateLimiter:
    """The window is a sorted set of slot times (microseconds, Redis clock); PixelDojo's count a counter.

    ``history`` gives the recent call times when Redis has none (see the module's docstring); without it,
    or when it fails, a window whose past is unknown is assumed full.
    """

    def __init__(
        self, client: redis.Redis, *, name: str, window: Window, history: CallHistory | None = None
    ) -> None:
        self.client = client
        self.window = window
        self.history = history
        self.key = f"pixelgallery:ratelimit:{name}"
        self.epoch_key = f"{self.key}:epoch"
        self.budget_key = f"{self.key}:provider"
        self._acquire = client.register_script(_ACQUIRE_SCRIPT)
        self._observe = client.register_script(_OBSERVE_SCRIPT)
        self._state = client.register_script(_STATE_SCRIPT)
        self._slot_us = 0  # the Redis time of the last slot this limiter took

    def try_acquire(self) -> float:
        wait_us, slot_us = self._run_acquire("")
        if wait_us < 0:
            wait_us, slot_us = self._run_acquire(*self._history_args())
        if wait_us == 0:
            self._slot_us = slot_us
        return wait_us / 1_000_000

    def observe(self, limit: ProviderLimit | None) -> None:
        if limit is None:
            return
        self._observe(
            keys=[self.key, self.budget_key],
            args=[limit.remaining, math.ceil(_reset_for(limit) * 1000), self._slot_us],
        )

    def reset(self) -> None:
        """Forget the window and its history (an operator's or a test's decision, not a restart)."""
        self.client.delete(self.key, self.budget_key)
        self.client.set(self.epoch_key, 0)

    def state(self) -> LimiterState:
        remaining, left_ms, *ages = self._state(
            keys=[self.key, self.budget_key], args=[int(self.window.seconds * 1_000_000)]
        )
        try:
            provider_remaining = int(remaining) if int(left_ms) > 0 else None
        except ValueError:
            provider_remaining = None
        return LimiterState(
            window=self.window,
            slot_ages=tuple(int(age) / 1_000_000 for age in ages),
            provider_remaining=provider_remaining,
            provider_reset=max(0, int(left_ms)) / 1000,
        )

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """A Redis lock (it expires after ``TURN_LOCK_SECONDS`` should its holder die); a worker that cannot
        have it within that time gets ``redis.exceptions.LockError``, as when Redis is unavailable."""
        lock = self.client.lock(
            f"{self.key}:turn",
            timeout=TURN_LOCK_SECONDS,
            blocking_timeout=TURN_LOCK_SECONDS,
            thread_local=False,
        )
        if not lock.acquire():
            raise redis.exceptions.LockError("the rate limiter's turn lock stayed taken")
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError):  # it expired: nothing left to free
                lock.release()

    def _run_acquire(self, *history: str | int) -> tuple[int, int]:
        wait_us, slot_us = self._acquire(
            keys=[self.key, self.epoch_key, self.budget_key],
            args=[self.window.limit, int(self.window.seconds * 1_000_000), uuid.uuid4().hex, *history],
        )
        return int(wait_us), int(slot_us)

    def _history_args(self) -> list[str | int]:
        if self.history is None:
            return ["full"]
        try:
            times = list(self.history(self.window.seconds, self.window.limit))
        except Exception as exc:  # no evidence: the safe assumption
            logger.warning(
                "rate limiter: no window in Redis and the record of recent calls could not be read (%s); "
                "assuming a full window",
                type(exc).__name__,
            )
            return ["full"]
        logger.info(
            "rate limiter: no window in Redis; %d calls recorded in the last window count", len(times)
        )
        return ["seen", *(int(at * 1_000_000) for at in times)]


class FileRateLimiter:
    """The window is a list of slot times in a JSON file, read and written under an exclusive lock.

    A missing file is a window never used. PixelDojo's count is kept beside the slots.
    """

    def __init__(self, path: Path, *, window: Window) -> None:
        self.path = path
        self.window = window
        self._slot: float | None = None  # the time of the last slot this limiter took
        path.parent.mkdir(parents=True, exist_ok=True)

    def try_acquire(self) -> float:
        with self._state() as state:
            now = time.time()
            slots = state["slots"] = sorted(t for t in state["slots"] if t > now - self.window.seconds)
            provider = state.get("provider")
            if provider is not None and provider["until"] <= now:
                del state["provider"]  # PixelDojo's count was reset
                provider = None
            if provider is not None and provider["remaining"] <= 0:
                return max(0.001, provider["until"] - now)
            if len(slots) >= self.window.limit:
                return max(0.001, slots[len(slots) - self.window.limit] + self.window.seconds - now)
            slots.append(now)
            if provider is not None:
                provider["remaining"] -= 1
            self._slot = now
            return 0.0

    def observe(self, limit: ProviderLimit | None) -> None:
        if limit is None:
            return
        with self._state() as state:
            heard = state.get("provider")
            as_of = time.time() if self._slot is None else self._slot
            if heard is not None and heard["as_of"] > as_of:
                return  # an answer to a later call was heard already
            state.pop("provider", None)
            if (reset := _reset_for(limit)) > 0:
                taken_since = 0 if self._slot is None else sum(1 for t in state["slots"] if t > self._slot)
                state["provider"] = {
                    "remaining": max(0, limit.remaining - taken_since),
                    "until": time.time() + reset,
                    "as_of": as_of,
                }

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)

    def state(self) -> LimiterState:
        try:
            handle = open(self.path)  # noqa: SIM115 - closed below, after the shared lock
        except FileNotFoundError:
            return LimiterState(window=self.window, slot_ages=())
        with handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            try:
                state = _file_state(json.loads(handle.read() or "[]"))
            except (ValueError, TypeError, KeyError):
                state = {"slots": []}
        now = time.time()
        provider = state.get("provider")
        if provider is not None and provider["until"] <= now:
            provider = None
        return LimiterState(
            window=self.window,
            slot_ages=tuple(max(0.0, now - t) for t in state["slots"] if t > now - self.window.seconds),
            provider_remaining=None if provider is None else provider["remaining"],
            provider_reset=0.0 if provider is None else provider["until"] - now,
        )

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """An exclusive ``flock`` on a file beside the window's (the processes of one machine)."""
        with open(self.path.with_name(f"{self.path.name}.turn"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        """The file's content under the lock, written back on leaving (see ``_file_state``)."""
        with open(self.path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            try:
                state = _file_state(json.loads(handle.read() or "[]"))
            except (ValueError, TypeError, KeyError):
                state = {"slots": []}
            yield state
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(state))


def _file_state(raw: Any) -> dict[str, Any]:
    """``{"slots": [times], "provider": {"remaining", "until", "as_of"}}`` (an older file: the list alone)."""
    if isinstance(raw, list):
        return {"slots": [float(t) for t in raw]}
    state: dict[str, Any] = {"slots": [float(t) for t in raw["slots"]]}
    if (provider := raw.get("provider")) is not None:
        state["provider"] = {
            "remaining": int(provider["remaining"]),
            "until": float(provider["until"]),
            "as_of": float(provider["as_of"]),
        }
    return state


def acquire(limiter: RateLimiter, *, max_wait: float) -> float:
    """Block until a slot is taken (return 0), or return the wait left when it would exceed ``max_wait``."""
    deadline = time.monotonic() + max_wait
    while True:
        wait = limiter.try_acquire()
        if wait <= 0:
            return 0.0
        if time.monotonic() + wait > deadline:
            return wait
        time.sleep(wait)


def limiter_from_settings() -> RateLimiter:
    """Redis when the broker (or PIXELDOJO_RATE_LIMIT_REDIS_URL) is Redis, else the file limiter."""
    from django.conf import settings

    window = Window(
        limit=settings.PIXELDOJO_RATE_LIMIT_RPM,
        seconds=settings.PIXELDOJO_RATE_LIMIT_WINDOW_SECONDS + settings.PIXELDOJO_RATE_LIMIT_MARGIN_SECONDS,
    )
    url = settings.PIXELDOJO_RATE_LIMIT_REDIS_URL
    if url:
        return RedisRateLimiter(
            _redis_client(url),
            name=settings.PIXELDOJO_RATE_LIMIT_NAME,
            window=window,
            history=recorded_call_times,
        )
    return FileRateLimiter(
        settings.VAR_DIR / f"ratelimit-{settings.PIXELDOJO_RATE_LIMIT_NAME}.json", window=window
    )


_clients: dict[str, redis.Redis] = {}


def _redis_client(url: str) -> redis.Redis:
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return _clients[url]
