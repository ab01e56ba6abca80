"""Per-token request limits: the sliding window of ``generations.ratelimit`` (Redis when the app has it,
else a file under ``var/``), one window per token, ``API_RATE_LIMIT_PER_MINUTE`` requests a minute."""

from __future__ import annotations

import math

import redis
from django.conf import settings

from generations.ratelimit import FileRateLimiter, RateLimiter, RedisRateLimiter, Window

_clients: dict[str, redis.Redis] = {}


def token_limiter(token_key: str) -> RateLimiter:
    """The window of one token (``token_key``: part of its digest, unique per token, never reused)."""
    window = Window(limit=settings.API_RATE_LIMIT_PER_MINUTE, seconds=60.0)
    name = f"{settings.API_RATE_LIMIT_NAME}-token-{token_key}"
    url = settings.PIXELDOJO_RATE_LIMIT_REDIS_URL
    if url:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        # A window Redis does not hold (new token, flushed Redis) starts empty: these are our own clients.
        return RedisRateLimiter(_clients[url], name=name, window=window, history=lambda seconds, limit: [])
    return FileRateLimiter(settings.VAR_DIR / "ratelimit-api" / f"{name}.json", window=window)


def token_wait(token_key: str) -> int:
    """0 when the token may make a request now (the request is counted), else whole seconds to wait."""
    wait = token_limiter(token_key).try_acquire()
    return 0 if wait <= 0 else max(1, math.ceil(wait))
