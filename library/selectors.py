"""Reads for the image library: keyset-paginated, filtered, always scoped to what the user may see."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import BigIntegerField, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from credits.selectors import day_end, day_start
from generations.models import PARAMETER_LABELS, Image
from library.filters import LibraryFilters
from library.models import Collection, CollectionItem, Favourite, ShareLink
from library.search import search_prompts
from pixelgallery.caching import remembered
from teams.models import Team
from teams.permissions import (
    Action,
    can,
    can_revoke_share,
    memberships_of,
    own_work_q,
    team_scope_q,
    visible_q,
)

PAGE_SIZE = 48
MAX_CURSOR_LENGTH = 200  # ours are under 100 characters; a longer one is junk
_MAX_ID = 2**63 - 1  # a bigint primary key


@dataclass(frozen=True)
class LibraryPage:
    images: list[Image]
    next_cursor: str | None


def encode_cursor(image: Image) -> str:
    raw = json.dumps([int(getattr(image, "is_favourite", False)), image.created_at.isoformat(), image.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[bool, datetime, int] | None:
    """The position after which the next page starts; ``None`` for a malformed cursor (first page).

    Malformed: not our base64 JSON, a naive or unrepresentable (in UTC) time, an id no row can have.
    """
    if len(cursor) > MAX_CURSOR_LENGTH:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        favourite, created, image_id = json.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(created)
        if timezone.is_naive(moment):
            return None
        image_id = int(image_id)
        if not 0 <= image_id <= _MAX_ID:
            return None
        return bool(favourite), moment.astimezone(UTC), image_id
    except (ValueError, TypeError, OverflowError):
        return None


def _after(
    sort: str, position: tuple[bool, datetime, int], *, created: str = "created_at", pk: str = "id"
) -> Q:
    """Rows after the cursor, newest or oldest first, on the columns ``created`` and ``pk``.

    The redundant bound on ``created`` lets PostgreSQL start the index scan at the cursor instead of
    filtering every newer row (an OR alone is not an index range).
    """
    _, moment, image_id = position
    if sort == "oldest":
        return Q(**{f"{created}__gte": moment}) & (
            Q(**{f"{created}__gt": moment}) | Q(**{created: moment, f"{pk}__gt": image_id})
        )
    return Q(**{f"{created}__lte": moment}) & (
        Q(**{f"{created}__lt": moment}) | Q(**{created: moment, f"{pk}__lt": image_id})
    )


# Columns a library page never shows: the search document and a kept provider answer (up to 64 KB each).
TILE_UNUSED = ("search_document", "generation__provider_answer")

# What a page of tiles reads (``library/templatetags/library_tiles.py``, cursors, delete rights): loading only
# these skips about 40 columns of the image, its generation and its author per tile.
TILE_FIELDS = (
    "id",
    "code",
    "status",
    "waiting_host",
    "team",
    "user",
    "generation",
    "thumbnail",
    "thumbnail_small",
    "width",
    "height",
    "phash",  # the "collapse near-duplicates" switch groups the page by it
    "created_at",
    "generation__prompt",
    "generation__model",
    "user__username",
)

ORDERINGS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "favourites": ("-is_favourite", "-created_at", "-id"),  # library_page reads it as two segments
}


def visible_images(*, user) -> QuerySet[Image]:
    """Every image the user may see: their personal ones and all of their teams'."""
    return Image.objects.filter(visible_q(user))


def library_queryset(*, user, team: Team | None, mine: bool, filters: LibraryFilters) -> QuerySet[Image]:
    """The filtered, ordered library (``mine``: the user's own images; else the team's, for its members;
    with neither, the user's personal images).

    The scope is one predicate the planner estimates well (``team_id = X``, or ``user_id = U`` for
    ``mine``) once ``teams.permissions`` has checked membership, not ``visible_q`` and-ed with the team.
    "Favourites only" and "favourites first" are left to ``library_page``, which reads them from the
    favourites themselves.
    """
    if mine:
        scope = own_work_q(user)
    elif team is not None:
        scope = team_scope_q(user, team_id=team.id)
    else:  # the personal space alone (an API token acting outside any team)
        scope = Q(team__isnull=True, user_id=user.id) if user.is_authenticated else Q(pk__in=[])
    images = (
        Image.objects.filter(scope)
        .annotate(is_favourite=Exists(Favourite.objects.filter(user_id=user.id, image_id=OuterRef("pk"))))
        .select_related("generation", "user", "team")
        .defer(*TILE_UNUSED)
    )
    images = search_prompts(images, filters.q)
    if filters.model:
        images = images.filter(generation__model=filters.model)
    if filters.aspect_ratio:
        shape = Q(generation__aspect_ratio=filters.aspect_ratio)
        if filters.aspect_ratio == "16:9":  # PixelDojo's default when none was sent
            shape |= Q(generation__aspect_ratio="")
        images = images.filter(shape)
    if filters.author:
        images = images.filter(user__username__iexact=filters.author)
    if filters.date_from:  # half-open datetime ranges (not __date) keep the (team, created_at) index usable
        images = images.filter(created_at__gte=day_start(filters.date_from))
    if filters.date_to:
        images = images.filter(created_at__lt=day_end(filters.date_to))
    if filters.status:
        images = images.filter(status=filters.status)
    if filters.collection:
        code = _uuid_or_none(filters.collection)
        images = images.filter(collection_items__collection__code=code) if code else images.none()
    if filters.tag:
        images = images.filter(image_tags__tag__name=filters.tag)
    if filters.family:
        root = _family_of(user, filters.family)
        images = images.filter(generation__family_root=root) if root is not None else images.none()
    return images.order_by(*ORDERINGS.get(filters.sort, ORDERINGS["newest"]))


def library_page(
    *,
    user,
    team: Team | None,
    mine: bool,
    filters: LibraryFilters,
    cursor: str = "",
    page_size: int = PAGE_SIZE,
    fields: tuple[str, ...] = (),
) -> LibraryPage:
    """One page of the library after ``cursor``; one SQL query whatever the page size (two for a page of
    "favourites first" that reaches past the user's favourites). ``fields``: load only these (and the
    generation and author they name), e.g. ``TILE_FIELDS``."""
    images = library_queryset(user=user, team=team, mine=mine, filters=filters)
    if fields:
        images = images.select_related(None).select_related("generation", "user").only(*fields)
    position = decode_cursor(cursor) if cursor else None
    space = None if mine else team
    if filters.favourite:
        sort = "oldest" if filters.sort == "oldest" else "newest"
        rows = list(_favourites(images, user=user, team=space, sort=sort, position=position)[: page_size + 1])
    elif filters.sort == "favourites":
        rows = _favourites_first(images, user=user, team=space, position=position, limit=page_size + 1)
    else:
        if position is not None:
            images = images.filter(_after(filters.sort, position))
        rows = list(images[: page_size + 1])
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    return LibraryPage(images=rows, next_cursor=encode_cursor(rows[-1]) if has_more and rows else None)


def _favourites(images: QuerySet[Image], *, user, team: Team | None, sort: str, position) -> QuerySet[Image]:
    """The user's favourites among ``images`` after ``position``, newest or oldest first.

    In a team (``team``) they are read from ``favourite_user_team_newest`` (the favourite's copies of its
    image's team and time): a range of the user's favourites there, whatever the size of the team. Elsewhere
    ("My images", which spans spaces) each image of the range is checked for being a favourite.
    """
    if team is None:
        favourites = images.filter(is_favourite=True).order_by(*ORDERINGS[sort])
        return favourites.filter(_after(sort, position)) if position is not None else favourites
    mine = Q(favourites__user_id=user.id, favourites__team_id=team.id)
    if position is not None:  # one filter() call: the same join to the favourite
        mine &= _after(sort, position, created="favourites__image_created_at", pk="favourites__image_id")
    sign = "" if sort == "oldest" else "-"
    return images.filter(mine).order_by(f"{sign}favourites__image_created_at", f"{sign}favourites__image_id")


def _favourites_first(
    images: QuerySet[Image], *, user, team: Team | None, position, limit: int
) -> list[Image]:
    """Up to ``limit`` images after ``position`` in "favourites first" order, as two keyset segments: the
    user's favourites, newest first, then the other images, newest first. Each segment is an index range
    (``ORDER BY is_favourite`` would compute it for every image of the space and sort them all)."""
    rows: list[Image] = []
    if position is None or position[0]:  # the page starts among the favourites
        rows = list(_favourites(images, user=user, team=team, sort="newest", position=position)[:limit])
    if len(rows) < limit:
        others = images.order_by(*ORDERINGS["newest"]).filter(is_favourite=False)
        if position is not None and not position[0]:
            others = others.filter(_after("newest", position))
        rows += list(others[: limit - len(rows)])
    return rows


def _family_of(user, code: str) -> Subquery | None:
    """The family key (``Generation.family_root``) of the image with this code if the user may see it, as a
    subquery of the page's one query: NULL, so no image matches, for an unknown code or someone else's
    image; ``None`` for a code that is no image code at all."""
    key = LibraryFilters(family=code).family_code
    if key is None:
        return None
    image = visible_images(user=user).filter(code=key)
    root = Coalesce("generation__family_root", "generation_id", output_field=BigIntegerField())
    return Subquery(image.values(root=root)[:1])


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def collections_for(*, user) -> QuerySet[Collection]:
    """Boards the user may see: their personal ones and their teams'."""
    return Collection.objects.filter(
        Q(team__isnull=True, created_by=user) | Q(team_id__in=list(memberships_of(user)))
    ).select_related("team", "cover")


@dataclass(frozen=True)
class CollectionChoice:
    code: str
    name: str


def collections_cache_key(*, team_id: int | None, user_id: int) -> str:
    """The cached collection names of a team (``team_id``), or of a user's personal space."""
    return f"library:collections:team:{team_id}" if team_id else f"library:collections:user:{user_id}"


def collection_choices(*, user, team: Team | None) -> list[CollectionChoice]:
    """The boards of one space (a team the user may see, or with ``None`` their personal ones) by name, for
    a library page's menus; cached until one is created, renamed or deleted (``library.services``)."""
    if team is not None and not can(user, Action.VIEW, team_id=team.id):
        return []
    team_id = team.id if team else None

    def load() -> list[CollectionChoice]:
        boards = Collection.objects.filter(team_id=team_id)
        if team_id is None:
            boards = boards.filter(created_by=user)
        return [CollectionChoice(str(code), name) for code, name in boards.values_list("code", "name")]

    return remembered(collections_cache_key(team_id=team_id, user_id=user.id), load)


def collections_for_image(*, user, image: Image) -> list[Collection]:
    """The boards the user sees that may hold ``image`` (its team's, or their own personal ones for a
    personal image), by name, each with ``holds_image``; one query."""
    holds = CollectionItem.objects.filter(collection_id=OuterRef("pk"), image_id=image.id)
    return list(
        collections_for(user=user)
        .filter(team_id=image.team_id)
        .annotate(holds_image=Exists(holds))
        .order_by("name", "id")
    )


def get_image_for_user(*, user, code) -> Image:
    """An image the user may see, with its generation, author and team; 404 for everyone else."""
    from django.http import Http404

    image = (
        visible_images(user=user)
        .select_related("generation", "user", "team")
        .annotate(is_favourite=Exists(Favourite.objects.filter(user_id=user.id, image_id=OuterRef("pk"))))
        .filter(code=code)
        .first()
    )
    if image is None:
        raise Http404("No such image.")
    return image


@dataclass(frozen=True)
class ComparedValue:
    label: str
    value: str
    differs: bool  # some other image of the comparison has another value (or none)


@dataclass(frozen=True)
class ComparedImage:
    image: Image
    prompt_differs: bool
    rows: list[ComparedValue]


MISSING = "—"  # a parameter the image's generation did not set


def images_to_compare(*, user, codes: list[uuid.UUID]) -> list[ComparedImage]:
    """The images with these codes, in that order, each with the same parameter rows (labels for people)
    and which of them differ; one query. 404 unless the user may see every one of them."""
    from django.http import Http404

    found = {
        image.code: image
        for image in visible_images(user=user).select_related("generation", "user").filter(code__in=codes)
    }
    if len(found) != len(set(codes)):
        raise Http404("No such image.")
    images = [found[code] for code in codes]
    by_image = [dict(image.generation.parameter_rows()) for image in images]
    for image, rows in zip(images, by_image, strict=True):
        if image.width and image.height:
            rows["Size"] = f"{image.width} × {image.height}"  # noqa: RUF001 - the multiplication sign
    labels = [label for label in (*PARAMETER_LABELS.values(), "Size") if any(label in r for r in by_image)]
    differing = {label for label in labels if len({rows.get(label, MISSING) for rows in by_image}) > 1}
    prompt_differs = len({image.generation.prompt for image in images}) > 1
    return [
        ComparedImage(
            image=image,
            prompt_differs=prompt_differs,
            rows=[ComparedValue(label, rows.get(label, MISSING), label in differing) for label in labels],
        )
        for image, rows in zip(images, by_image, strict=True)
    ]


def team_holdings(*, team_id: int) -> dict[str, int]:
    """What deleting the team deletes in the library (``teams.hooks`` summary fields)."""
    return {
        "images": Image.objects.filter(team_id=team_id).count(),
        "collections": Collection.objects.filter(team_id=team_id).count(),
    }


# --- Share links -----------------------------------------------------------------------------------------

MAX_SHARE_TOKEN_LENGTH = 64  # ours are 43 characters; anything much longer is not one of ours
SHARED_COLLECTION_LIMIT = 200  # the images a shared collection's page shows, newest additions first


def share_link_for_token(token: str) -> ShareLink | None:
    """The usable link with this token (not revoked, not expired, its team not deleted), its image and
    generation or its collection loaded; ``None`` otherwise, whichever the reason."""
    if not token or len(token) > MAX_SHARE_TOKEN_LENGTH:
        return None
    now = timezone.now()
    return (
        ShareLink.objects.filter(digest=ShareLink.digest_of(token), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .filter(Q(team__isnull=True) | Q(team__deleted_at__isnull=True))
        .select_related("image__generation", "collection")
        .first()
    )


def shared_images(*, link: ShareLink) -> list[Image]:
    """The stored images a link shows: its image, or its collection's newest additions (up to
    ``SHARED_COLLECTION_LIMIT``), each with its generation; one query."""
    if link.kind == ShareLink.Kind.IMAGE:
        return [link.image] if link.image.status == Image.Status.STORED else []
    return list(
        Image.objects.filter(collection_items__collection_id=link.collection_id, status=Image.Status.STORED)
        .select_related("generation")
        .defer(*TILE_UNUSED)
        .order_by("-collection_items__added_at", "-id")[:SHARED_COLLECTION_LIMIT]
    )


def shared_image(*, link: ShareLink, code) -> Image | None:
    """The stored image ``code`` if the link covers it (its image, or one of its collection's), else None."""
    if link.kind == ShareLink.Kind.IMAGE:
        image = link.image
        return image if image.code == code and image.status == Image.Status.STORED else None
    return (
        Image.objects.filter(
            code=code, status=Image.Status.STORED, collection_items__collection_id=link.collection_id
        )
        .select_related("generation")
        .first()
    )


def share_links_for_target(*, user, image: Image | None = None, collection: Collection | None = None):
    """The links to this image or collection that ``user`` may revoke (their own; all of them for the team's
    admins and owners), newest first, with their creators; one query."""
    links = (
        ShareLink.objects.filter(image=image)
        if image is not None
        else ShareLink.objects.filter(collection=collection)
    )
    links = links.select_related("created_by").order_by("-created_at", "-id")
    return [
        link for link in links if can_revoke_share(user, team_id=link.team_id, creator_id=link.created_by_id)
    ]


def team_share_links(*, team_id: int) -> list[ShareLink]:
    """Every share link of the team, newest first, with its target and creator (for its admins); one query."""
    return list(
        ShareLink.objects.filter(team_id=team_id)
        .select_related("image__generation", "collection", "created_by")
        .defer("image__search_document", "image__generation__provider_answer")
        .order_by("-created_at", "-id")
    )


def share_link_for_user(*, user, code) -> ShareLink:
    """A link ``user`` may see the management of (its creator, or a member of its team); 404 otherwise."""
    from django.http import Http404

    link = (
        ShareLink.objects.filter(code=code)
        .filter(Q(created_by_id=user.id) | Q(team_id__in=list(memberships_of(user))))
        .first()
        if user.is_authenticated
        else None
    )
    if link is None:
        raise Http404("No such share link.")
    return link
