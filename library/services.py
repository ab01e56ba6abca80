"""Writes for the image library: favourites, collections, tags, deletion, ZIP export."""

from __future__ import annotations

import logging
import secrets
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from generations.models import Generation, Image
from library.models import (
    MAX_TAG_LENGTH,
    SHARE_MAX_DAYS,
    SHARE_MIN_DAYS,
    Collection,
    CollectionItem,
    Favourite,
    ImageTag,
    ShareLink,
    Tag,
)
from library.selectors import collections_cache_key
from pixelgallery.caching import forget
from teams.models import Team
from teams.permissions import Action, can, can_delete, can_revoke_share

logger = logging.getLogger(__name__)


def favourite_set(*, user, image: Image, favourite: bool) -> bool:
    """Mark or unmark an image as the user's favourite; returns the new state."""
    if favourite:
        try:
            with transaction.atomic():
                Favourite.objects.create(user=user, image=image)
        except IntegrityError:
            pass  # already a favourite
    else:
        Favourite.objects.filter(user=user, image=image).delete()
    return favourite


def collection_create(*, user, team: Team | None, name: str) -> Collection:
    """A team board (members and up) or, without a team, a personal one."""
    if team is not None and not can(user, Action.CURATE, team_id=team.id):
        raise PermissionDenied("Only members can create collections in this team.")
    collection = Collection.objects.create(name=name, team=team, created_by=user)
    _forget_choices(collection)
    return collection


def _forget_choices(collection: Collection) -> None:
    """The cached names of the collection's space (a library page's menus) are out of date."""
    forget(collections_cache_key(team_id=collection.team_id, user_id=collection.created_by_id))


def _check_curate(user, collection: Collection) -> None:
    if not can(user, Action.CURATE, team_id=collection.team_id, author_id=collection.created_by_id):
        raise PermissionDenied("You cannot change this collection.")


def collection_rename(*, user, collection: Collection, name: str) -> None:
    _check_curate(user, collection)
    collection.name = name
    collection.save(update_fields=["name"])
    _forget_choices(collection)


def collection_delete(*, user, collection: Collection) -> None:
    _check_curate(user, collection)
    collection.delete()
    _forget_choices(collection)


def collection_add(*, user, collection: Collection, images: Iterable[Image]) -> int:
    """Add images that belong where the collection does, all or none; returns how many were new.

    Every image is checked before anything is written: one that belongs elsewhere refuses the whole batch.
    """
    _check_curate(user, collection)
    images = list(images)
    if any(
        image.team_id != collection.team_id or (collection.team_id is None and image.user_id != user.id)
        for image in images
    ):
        raise ValidationError(
            f"“{collection.name}” can only hold images of the same team, so nothing was added."
        )
    added = 0
    with transaction.atomic():
        for image in images:
            _, created = CollectionItem.objects.get_or_create(
                collection=collection, image=image, defaults={"added_by": user}
            )
            added += created
        if collection.cover_id is None and added:
            collection.cover = images[0]
            collection.save(update_fields=["cover"])
    return added


def collection_remove(*, user, collection: Collection, image: Image) -> None:
    _check_curate(user, collection)
    CollectionItem.objects.filter(collection=collection, image=image).delete()
    if collection.cover_id == image.id:
        collection.cover = collection.images.order_by("-collection_items__added_at").first()
        collection.save(update_fields=["cover"])


def collection_set_cover(*, user, collection: Collection, image: Image) -> None:
    _check_curate(user, collection)
    if not CollectionItem.objects.filter(collection=collection, image=image).exists():
        raise ValidationError("The cover must be an image of the collection.")
    collection.cover = image
    collection.save(update_fields=["cover"])


def normalise_tags(raw: str) -> list[str]:
    """``"Sunset, beach  ,sunset"`` → ``["sunset", "beach"]``."""
    tags: list[str] = []
    for part in raw.split(","):
        name = " ".join(part.split()).lower()
        if name and name not in tags:
            tags.append(name)
    return tags


def tag_names_check(names: list[str]) -> None:
    """Refuse a name longer than a tag can be."""
    if any(len(name) > MAX_TAG_LENGTH for name in names):
        raise ValidationError(f"Tags are at most {MAX_TAG_LENGTH} characters.")


def tags_set(*, user, image: Image, names: list[str]) -> None:
    """Replace the image's tags with ``names``."""
    if not can(user, Action.CURATE, team_id=image.team_id, author_id=image.user_id):
        raise PermissionDenied("You cannot tag this image.")
    tag_names_check(names)
    with transaction.atomic():
        ImageTag.objects.filter(image=image).exclude(tag__name__in=names).delete()
        for name in names:
            tag, _ = Tag.objects.get_or_create(name=name)
            ImageTag.objects.get_or_create(image=image, tag=tag, defaults={"added_by": user})


def images_delete(*, user, images: Iterable[Image]) -> int:
    """Delete images the user may delete, with their stored files; a generation left empty goes too."""
    images = list(images)
    for image in images:
        if not can_delete(user, team_id=image.team_id, author_id=image.user_id):
            raise PermissionDenied("Only the author or a team admin can delete this image.")
    names = [name for image in images for name in image.stored_names()]
    generation_ids = {image.generation_id for image in images}
    with transaction.atomic():
        Image.objects.filter(id__in=[image.id for image in images]).delete()
        Generation.objects.filter(id__in=generation_ids, images__isnull=True).delete()
        transaction.on_commit(lambda: _delete_files(names))
    return len(images)


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete stored file %s", name)


class _ZipSink:
    """A write-only file object that hands out what has been written so far (for streaming)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_stream(images: Iterable[Image]) -> Iterator[bytes]:
    """Yield a ZIP of the stored originals, one file at a time (never the whole archive in memory)."""
    sink = _ZipSink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for image in images:
            if image.status != Image.Status.STORED or not image.file.name:
                continue
            name = _archive_name(image)
            with default_storage.open(image.file.name, "rb") as source, archive.open(name, "w") as target:
                while chunk := source.read(256 * 1024):
                    target.write(chunk)
                    yield sink.drain()
            yield sink.drain()
    yield sink.drain()


def _archive_name(image: Image) -> str:
    words = "-".join(image.generation.prompt.lower().split()[:6])
    slug = "".join(ch for ch in words if ch.isalnum() or ch == "-")[:60] or "image"
    return f"{slug}-{str(image.code)[:8]}.{image.file_extension}"


def team_library_delete(*, team_id: int, actor) -> None:
    """The team is being deleted by ``actor`` (an owner): its collections, then its images with their
    files (after the deletion commits)."""
    Collection.objects.filter(team_id=team_id).delete()
    forget(collections_cache_key(team_id=team_id, user_id=actor.id))
    images_delete(user=actor, images=Image.objects.filter(team_id=team_id).order_by("id"))


# --- Share links -----------------------------------------------------------------------------------------
# A link's token is 32 random bytes (256 bits, URL-safe base64: 43 characters). Only its SHA-256 digest is
# stored (like API tokens): a database leak opens no link, and the link is shown once, to its creator.

SHARE_TOKEN_BYTES = 32


@dataclass(frozen=True)
class NewShareLink:
    link: ShareLink
    token: str  # the URL's secret: shown once, never stored


def share_link_create(
    *,
    user,
    image: Image | None = None,
    collection: Collection | None = None,
    expires_in_days: int | None,
    show_prompt: bool = False,
    show_parameters: bool = False,
) -> NewShareLink:
    """A link to ``image`` or ``collection`` (exactly one) valid for ``expires_in_days`` days (1 to 90), or
    for good (``None``: team admins and owners, or the author of personal work). ``PermissionDenied`` for a
    user who may not share it (see ``teams.permissions``), ``ValidationError`` for a lifetime out of
    bounds."""
    if (image is None) == (collection is None):
        raise ValueError("share exactly one image or one collection")
    team_id = image.team_id if image is not None else collection.team_id
    author_id = image.user_id if image is not None else collection.created_by_id
    if not can(user, Action.SHARE, team_id=team_id, author_id=author_id):
        raise PermissionDenied("You cannot share this outside the team.")
    if expires_in_days is None:
        if not can(user, Action.SHARE_FOREVER, team_id=team_id, author_id=author_id):
            raise PermissionDenied("Only the team's admins and owners can make a link that never expires.")
        expires_at = None
    elif not SHARE_MIN_DAYS <= expires_in_days <= SHARE_MAX_DAYS:
        raise ValidationError(f"A share link lasts {SHARE_MIN_DAYS} to {SHARE_MAX_DAYS} days.")
    else:
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    token = secrets.token_urlsafe(SHARE_TOKEN_BYTES)
    link = ShareLink.objects.create(
        digest=ShareLink.digest_of(token),
        kind=ShareLink.Kind.IMAGE if image is not None else ShareLink.Kind.COLLECTION,
        image=image,
        collection=collection,
        team_id=team_id,
        created_by=user,
        expires_at=expires_at,
        show_prompt=show_prompt,
        show_parameters=show_parameters,
    )
    return NewShareLink(link=link, token=token)


def share_link_revoke(*, user, link: ShareLink) -> None:
    """Stop the link at once (its creator, or an admin or owner of its team); a second revoke changes
    nothing."""
    if not can_revoke_share(user, team_id=link.team_id, creator_id=link.created_by_id):
        raise PermissionDenied("Only the link's creator or the team's admins and owners can revoke it.")
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=link.revoked_at)


def share_link_count_view(*, link: ShareLink) -> None:
    """One more view of the link's page (one UPDATE in the database, so simultaneous views all count)."""
    ShareLink.objects.filter(pk=link.pk).update(view_count=F("view_count") + 1)
