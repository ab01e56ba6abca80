"""Reads of the API: a user's tokens, and objects in a token's space (its team, or its user's personal work).

What a token's user may see is decided by the library and generation selectors (``teams.permissions``);
a token further narrows it to the one space it was made for.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from api.models import ApiToken
from generations import selectors as generation_selectors
from generations.models import Comparison, Generation, Image
from library import selectors as library_selectors
from library.models import Collection


def tokens_for_user(*, user) -> QuerySet[ApiToken]:
    """The user's tokens, newest first, with their teams."""
    return ApiToken.objects.filter(user=user).select_related("team").order_by("-created_at", "-id")


def _in_space(token: ApiToken, team_id: int | None, what: str) -> None:
    if team_id != token.team_id:
        raise Http404(f"No such {what}.")


def generation_for_token(*, token: ApiToken, code) -> Generation:
    """A generation the token's user may see, in the token's space; 404 otherwise."""
    generation = generation_selectors.get_generation_for_user(user=token.user, code=code)
    _in_space(token, generation.team_id, "generation")
    return generation


def comparison_for_token(*, token: ApiToken, code) -> Comparison:
    """A comparison the token's user may see, in the token's space; 404 otherwise."""
    comparison = generation_selectors.get_comparison_for_user(user=token.user, code=code)
    _in_space(token, comparison.team_id, "comparison")
    return comparison


def image_for_token(*, token: ApiToken, code) -> Image:
    """An image (with generation, author, team and ``is_favourite``) in the token's space; 404 otherwise."""
    image = library_selectors.get_image_for_user(user=token.user, code=code)
    _in_space(token, image.team_id, "image")
    return image


def readable_image_codes(*, token: ApiToken, ids: Iterable[int | None]) -> dict[int, UUID]:
    """The codes of those of these images the token can read (in its space, visible to its user), by id;
    one query, none for no ids."""
    wanted = {image_id for image_id in ids if image_id is not None}
    if not wanted:
        return {}
    readable = library_selectors.visible_images(user=token.user).filter(id__in=wanted, team_id=token.team_id)
    return dict(readable.values_list("id", "code"))


def collections_for_token(*, token: ApiToken) -> QuerySet[Collection]:
    """The boards of the token's space the user may see, by name."""
    return (
        library_selectors.collections_for(user=token.user)
        .filter(team_id=token.team_id)
        .order_by("name", "id")
    )


def collection_for_token(*, token: ApiToken, code) -> Collection:
    collection = collections_for_token(token=token).filter(code=code).first()
    if collection is None:
        raise Http404("No such collection.")
    return collection


def collection_holds(*, collection: Collection, image: Image) -> bool:
    return collection.items.filter(image=image).exists()


def image_tags(*, image: Image) -> list[str]:
    return sorted(image.image_tags.values_list("tag__name", flat=True))


def image_collections(*, token: ApiToken, image: Image) -> list:
    return [
        board.code
        for board in library_selectors.collections_for_image(user=token.user, image=image)
        if board.holds_image
    ]


# --- Cursors (the ledger's; the images' are the library's own) -----------------------------------------


def encode_position(created_at: datetime, row_id: int) -> str:
    raw = json.dumps([created_at.isoformat(), row_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_position(cursor: str) -> tuple[datetime, int] | None:
    """The position a cursor names; ``None`` when it is not one of ours."""
    if len(cursor) > 200:
        return None
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(created)
        row_id = int(row_id)
        if timezone.is_naive(moment) or not 0 <= row_id < 2**63:
            return None
        return moment.astimezone(UTC), row_id
    except (ValueError, TypeError, OverflowError):
        return None
