"""A sliding-window rate limiter shared by every worker process and machine.

PixelDojo allows a fixed number of requests per minute per key. Every worker asks the limiter for a slot
before calling the API. With Redis (production) the window lives in one sorted set, updated atomically by a
Lua script on Redis' own clock; without Redis (the embedded first run) it lives in a file guarded by
``flock``, which serialises the processes of one machine.

A small safety margin widens the window so that network jitter between taking a slot and PixelDojo
receiving the request cannot push PixelDojo's own count over the limit.
"""

from __future__ import annotations

import fcntl
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import redis


class RateLimiter(Protocol):
    def try_acquire(self) -> float:
        """Take a slot and return 0, or take nothing and return the seconds until one may be free."""


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: float


# After Redis lost its data (a restart without persistence) the window history is unknown: assume it was
# full, so the limit holds even then. The "epoch" key marks that the window has been initialised.
_REDIS_SCRIPT = """
local key, epoch_key = KEYS[1], KEYS[2]
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2])
local member = ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if redis.call('EXISTS', epoch_key) == 0 then
  redis.call('SET', epoch_key, now)
  if redis.call('EXISTS', key) == 0 then
    for i = 1, limit do redis.call('ZADD', key, now, 'restart-' .. i) end
    redis.call('PEXPIRE', key, math.ceil(window_us / 1000) + 1000)
  end
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_us)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(window_us / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window_us - now)
"""


class RedisRateLimiter:
    """The window is a sorted set of slot times (microseconds, Redis clock)."""

    def __init__(self, client: redis.Redis, *, name: str, window: Window) -> None:
        self.client = client
        self.window = window
        self.key = f"pixelgallery:ratelimit:{name}"
        self.epoch_key = f"{self.key}:epoch"
        self._script = client.register_script(_REDIS_SCRIPT)

    def try_acquire(self) -> float:
        waited_us = self._script(
            keys=[self.key, self.epoch_key],
            args=[self.window.limit, int(self.window.seconds * 1_000_000), uuid.uuid4().hex],
        )
        return int(waited_us) / 1_000_000

    def reset(self) -> None:
        """Forget the window and its history (an operator's or a test's decision, not a restart)."""
        self.client.delete(self.key)
        self.client.set(self.epoch_key, 0)


class FileRateLimiter:
    """The window is a JSON list of slot times in a file, read and written under an exclusive lock."""

    def __init__(self, path: Path, *, window: Window) -> None:
        self.path = path
        self.window = window
        path.parent.mkdir(parents=True, exist_ok=True)

    def try_acquire(self) -> float:
        with open(self.path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            try:
                slots = [float(t) for t in json.loads(handle.read() or "[]")]
            except ValueError:
                slots = []
            now = time.time()
            slots = sorted(t for t in slots if t > now - self.window.seconds)
            wait = 0.0
            if len(slots) < self.window.limit:
                slots.append(now)
            else:
                wait = max(0.001, slots[0] + self.window.seconds - now)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(slots))
            return wait

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)


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
        return RedisRateLimiter(_redis_client(url), name=settings.PIXELDOJO_RATE_LIMIT_NAME, window=window)
    return FileRateLimiter(
        settings.VAR_DIR / f"ratelimit-{settings.PIXELDOJO_RATE_LIMIT_NAME}.json", window=window
    )


_clients: dict[str, redis.Redis] = {}


def _redis_client(url: str) -> redis.Redis:
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return _clients[url]
