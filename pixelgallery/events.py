"""Things that happened, told to whoever listens, without the apps that tell them knowing who listens.

The low-level apps (generations, credits) publish an event by name with the ids it concerns, e.g.
``publish("generation.completed", generation_id=7)``; an app above them (webhooks) subscribes in its
``AppConfig.ready()`` and reads what it needs through their selectors. Listeners run after the current
transaction commits (at once outside one), so they never see work that is rolled back, and a listener's
failure is logged, never raised into the work that published.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)

Listener = Callable[..., None]  # listener(event, **ids)

_listeners: dict[str, Listener] = {}


def subscribe(*, name: str, listener: Listener) -> None:
    """Called once per listening app when Django starts (subscribing the same ``name`` again replaces it)."""
    _listeners[name] = listener


def publish(event: str, **ids: int) -> None:
    """Tell every listener, once the current transaction commits, that ``event`` happened to ``ids``."""
    transaction.on_commit(lambda: _tell(event, ids))


def _tell(event: str, ids: dict[str, int]) -> None:
    for name, listener in list(_listeners.items()):
        try:
            listener(event, **ids)
        except Exception:
            logger.exception("event listener %s failed on %s %s", name, event, ids)
