"""Values every page header shows."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from credits.selectors import credits_spent_by_user
from generations.services import provider_pause_active


def pixelgallery(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"uses_sandbox": settings.PIXELDOJO_USES_SANDBOX}
    return {
        "credits_spent": credits_spent_by_user(user_id=user.id),
        "uses_sandbox": settings.PIXELDOJO_USES_SANDBOX,
        "provider_pause": provider_pause_active(),
    }
