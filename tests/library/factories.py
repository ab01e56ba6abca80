"""Builders for library tests: teams with roles, images with stored files."""

from __future__ import annotations

import io
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from generations.models import Generation, Image
from teams.models import Membership, Team


def make_team(owner, name: str = "Studio", **members) -> Team:
    """A team owned by ``owner``; ``members`` maps role → user (e.g. viewer=bob)."""
    team = Team.objects.create(name=name, created_by=owner)
    Membership.objects.create(team=team, user=owner, role="owner")
    for role, user in members.items():
        Membership.objects.create(team=team, user=user, role=role)
    return team


def png_bytes(color: str = "red", size: tuple[int, int] = (32, 24)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def make_image(
    user,
    *,
    team=None,
    prompt: str = "a quiet harbour at dusk",
    model: str = "flux-pro",
    aspect_ratio: str = "1:1",
    status: str = "stored",
    days_ago: float = 0,
    seed: int | None = 42,
    with_files: bool = False,
) -> Image:
    """One generation with one image (stored files on request)."""
    generation = Generation.objects.create(
        user=user,
        team=team,
        prompt=prompt,
        model=model,
        aspect_ratio=aspect_ratio,
        seed=seed,
        status="done" if status == "stored" else "failed",
    )
    image = Image.objects.create(
        generation=generation,
        user=user,
        team=team,
        index=0,
        provider_url="http://127.0.0.1:9/x.png",
        status=status,
        width=32,
        height=24,
        content_type="image/png",
    )
    when = timezone.now() - timedelta(days=days_ago)
    Image.objects.filter(id=image.id).update(created_at=when)
    # as a submission that remixes nothing: the root of its own family
    Generation.objects.filter(id=generation.id).update(created_at=when, family_root=generation.id)
    image.refresh_from_db()
    if with_files:
        image.file.name = default_storage.save(f"originals/{image.code}.png", ContentFile(png_bytes()))
        image.thumbnail.name = default_storage.save(
            f"thumbnails/{image.code}.webp", ContentFile(b"RIFFthumb")
        )
        image.save()
    return image


def store_thumbnails(image: Image, *, size: tuple[int, int] = (900, 600), color: str = "teal") -> Image:
    """The image's files as the worker stores them: a real original and both WebP thumbnails, at its keys."""
    from generations.imaging import verify_image
    from generations.services import image_storage_names

    verified = verify_image(png_bytes(color, size))
    original, large, small = image_storage_names(image, verified.extension)
    for name, data in (
        (original, verified.data),
        (large, verified.thumbnail),
        (small, verified.thumbnail_small),
    ):
        default_storage.save(name, ContentFile(data))
    Image.objects.filter(id=image.id).update(
        file=original, thumbnail=large, thumbnail_small=small, width=size[0], height=size[1]
    )
    image.refresh_from_db()
    return image


def logged_in(client, user, team=None):
    """``client`` logged in as ``user`` (the test password) with ``team`` active, if given."""
    from teams.active import SESSION_KEY
    from tests.conftest import PASSWORD

    client.login(username=user.username, password=PASSWORD)
    if team is not None:
        session = client.session
        session[SESSION_KEY] = str(team.code)
        session.save()
    return client


def make_remix(parent: Image, user=None, *, team=None, **changes) -> Image:
    """A remix of ``parent`` submitted as the form submits it (``generation_submit`` with ``remix_of``),
    with ``changes`` to the parent's prompt, model, aspect ratio or seed, and its one stored image."""
    from generations.pixeldojo import GenerationRequest
    from generations.services import generation_submit

    base = parent.generation
    asked = {"prompt": base.prompt, "model": base.model, "aspect_ratio": base.aspect_ratio, "seed": base.seed}
    params = GenerationRequest(**{**asked, **changes})
    author = user or parent.user
    generation = generation_submit(user=author, params=params, team=team, remix_of=parent)
    image = Image.objects.create(
        generation=generation,
        user=author,
        team=team,
        index=0,
        provider_url="http://127.0.0.1:9/x.png",
        status="stored",
        width=32,
        height=24,
        content_type="image/png",
    )
    return Image.objects.select_related("generation").get(id=image.id)
