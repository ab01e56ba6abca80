"""Values every page header shows: the site's own, and those the apps register from ``AppConfig.ready()``.

The site shell imports no app's models, so an app that has something to say in the header (credits spent,
the provider pause) registers a function with ``register_header_values``. Those functions run for signed-in
users only, in the order the apps are installed, and each returns the context values it contributes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.conf import settings
from django.http import HttpRequest

HeaderValues = Callable[[HttpRequest], Mapping[str, object]]

_header_values: list[HeaderValues] = []


def register_header_values(values: HeaderValues) -> HeaderValues:
    """Add ``values`` (called with a signed-in user's request) to every page's context; idempotent."""
    if values not in _header_values:
        _header_values.append(values)
    return values


def header(request: HttpRequest) -> dict[str, object]:
    context: dict[str, object] = {"uses_sandbox": settings.PIXELDOJO_USES_SANDBOX}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return context
    for values in _header_values:
        context.update(values(request))
    return context
