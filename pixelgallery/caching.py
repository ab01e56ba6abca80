"""Values every page of a user or team repeats, kept in Django's cache until their data changes.

An app reads through ``remembered(key, compute)`` and, in the service that changes the data, calls
``forget(key, ...)``: the entry is dropped at once and again when the transaction commits, so a page that
read the old rows in between cannot leave them cached. ``settings.CACHES`` says where entries live (shared
by web and worker processes) and their longest life (a safety net for changes made outside the app).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction

T = TypeVar("T")

_MISSING = object()


def remembered(key: str, compute: Callable[[], T], *, timeout: float | None = None) -> T:
    """The cached value of ``key`` (``None`` included), else ``compute()``'s, cached for ``timeout`` s
    (default: the cache's own); a ``timeout`` of 0 or less computes without caching."""
    value = cache.get(key, _MISSING)
    if value is not _MISSING:
        return value  # type: ignore[return-value]
    value = compute()
    if timeout is None:
        cache.set(key, value)
    elif timeout > 0:
        cache.set(key, value, timeout)
    return value


def forget(*keys: str) -> None:
    """Drop these entries now and once more after the current transaction commits."""
    if not keys:
        return
    cache.delete_many(keys)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: cache.delete_many(keys))
