"""Curation of the image library: favourites, collections (boards) and free-form tags."""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

MAX_TAG_LENGTH = 40  # Tag.name's max_length: the forms and services check names against it


class Favourite(models.Model):
    """A user's favourite; each person keeps their own."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites")
    image = models.ForeignKey("generations.Image", on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(auto_now_add=True)
    # Copies of the image's team and creation time (neither ever changes), so that a user's favourites in one
    # space, newest first, are one range of ``favourite_user_team_newest`` ("favourites first" pages).
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    image_created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "image"], name="favourite_unique")]
        indexes = [
            models.Index(
                fields=["user", "team", "-image_created_at", "-image"], name="favourite_user_team_newest"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ♥ {self.image_id}"

    def save(self, *args, **kwargs) -> None:
        if self.image_created_at is None:  # bulk writers set the copies themselves
            self.team_id, self.image_created_at = self.image.team_id, self.image.created_at
        super().save(*args, **kwargs)


class Collection(models.Model):
    """A board of images: a team's (shared with its members) or, with no team, a user's own."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=80)
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="collections"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections"
    )
    cover = models.ForeignKey(
        "generations.Image", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    images = models.ManyToManyField("generations.Image", through="CollectionItem", related_name="collections")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class CollectionItem(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey("generations.Image", on_delete=models.CASCADE, related_name="collection_items")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "image"], name="collection_item_unique")]
        indexes = [models.Index(fields=["image"], name="collection_item_image")]

    def __str__(self) -> str:
        return f"{self.image_id} in {self.collection_id}"


class Tag(models.Model):
    """A free-form label; names are normalised to lower case."""

    name = models.CharField(max_length=MAX_TAG_LENGTH, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImageTag(models.Model):
    image = models.ForeignKey("generations.Image", on_delete=models.CASCADE, related_name="image_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="image_tags")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "tag"], name="image_tag_unique")]
        indexes = [models.Index(fields=["tag", "image"], name="image_tag_tag")]

    def __str__(self) -> str:
        return f"{self.tag} on {self.image_id}"


SHARE_MIN_DAYS, SHARE_MAX_DAYS = 1, 90  # a share link's lifetime; "never" for team admins and owners only


class ShareLink(models.Model):
    """A public, read-only link to one image or one collection, for people without an account.

    Only the SHA-256 digest of its token is stored: the link is shown once, to its creator, when it is made.
    It shows the image(s) and, only if chosen, the prompt and the parameters.
    """

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        COLLECTION = "collection", "Collection"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # names it in revoke URLs
    digest = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    image = models.ForeignKey(
        "generations.Image", on_delete=models.CASCADE, null=True, blank=True, related_name="share_links"
    )
    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, null=True, blank=True, related_name="share_links"
    )
    team = models.ForeignKey(  # a copy of the target's team (never changes); None: personal work
        "teams.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="share_links"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # None: never
    revoked_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveIntegerField(default=0)
    show_prompt = models.BooleanField(default=False)
    show_parameters = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="image", image__isnull=False, collection__isnull=True)
                    | models.Q(kind="collection", image__isnull=True, collection__isnull=False)
                ),
                name="share_link_one_target",
            )
        ]
        indexes = [
            models.Index(fields=["team", "-created_at"], name="share_link_team_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} share {self.code}"

    @staticmethod
    def digest_of(token: str) -> str:
        """What is stored of a token: its SHA-256, hex (a 256-bit random token needs no salt)."""
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def target(self):
        return self.image if self.kind == self.Kind.IMAGE else self.collection

    def is_expired(self, *, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def status(self) -> str:
        """``revoked``, ``expired`` or ``active``, as the lists show it."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired() else "active"
