"""Values every page header shows."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from credits.selectors import credits_spent_by_user


def pixelgallery(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    spent = credits_spent_by_user(user_id=user.id) if user is not None and user.is_authenticated else None
    return {"credits_spent": spent, "uses_sandbox": settings.PIXELDOJO_USES_SANDBOX}
