"""Reads for "visually similar" images: the nearest hashes in a space, and near-duplicates folded together.

The lookup is multi-index hashing on the four indexed hash bands (``generations.similarity``): one query
for the candidates that share a band within a bit or two (ids and hashes only), exact distances in Python,
then one query for the nearest few to show. It never scans a team: at 100,000 images it reads a few hundred
candidate rows (``bench/similar_lookup.py``, docs/BENCHMARKS.md section 13).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet

from generations.models import Image
from generations.similarity import BANDS, SIMILAR_DISTANCE, band_probes, clusters, distance
from library.selectors import TILE_UNUSED
from teams.permissions import team_scope_q

SIMILAR_SHOWN = 8  # nearest images on an image's page


@dataclass(frozen=True)
class SimilarImage:
    image: Image
    distance: int  # bits in which the two perceptual hashes differ (0: the same picture to the eye)


def _space_q(user, image: Image) -> Q:
    """The space ``image`` lives in, as this user may see it: its team's images for a member of the team,
    the user's own personal images for one of their personal images; nothing otherwise."""
    if image.team_id is not None:
        return team_scope_q(user, team_id=image.team_id)
    if getattr(user, "is_authenticated", False) and image.user_id == user.id:
        return Q(team__isnull=True, user_id=user.id)
    return Q(pk__in=[])


def band_candidates(scope: Q, phash: int, radius: int = SIMILAR_DISTANCE) -> QuerySet[Image]:
    """Images in ``scope`` sharing at least one hash band within ``radius // 4`` bits of ``phash``'s: a
    superset of those within ``radius`` bits (pigeonhole), read through the ``(team, band)`` indexes."""
    probes = band_probes(phash, radius)
    shares_a_band = reduce(or_, (Q(**{f"phash_band{i}__in": probes[i]}) for i in range(BANDS)))
    return Image.objects.filter(scope).filter(shares_a_band)


def nearest_ids(
    scope: Q, phash: int, *, radius: int = SIMILAR_DISTANCE, limit: int | None = None, exclude_id: int = 0
) -> list[tuple[int, int]]:
    """``(distance, id)`` of the images in ``scope`` within ``radius`` bits of ``phash``, nearest first (ties:
    the older id first), at most ``limit``; one query."""
    rows = band_candidates(scope, phash, radius).exclude(id=exclude_id).order_by().values_list("id", "phash")
    near = sorted((d, image_id) for image_id, other in rows if (d := distance(phash, other)) <= radius)
    return near[:limit] if limit is not None else near


def similar_images(*, user, image: Image, limit: int = SIMILAR_SHOWN) -> list[SimilarImage]:
    """Up to ``limit`` images of ``image``'s space that look like it (within ``SIMILAR_DISTANCE`` bits),
    nearest first, the image itself left out; only images this user may see. Two queries (none without a
    hash)."""
    if image.phash is None:
        return []
    near = nearest_ids(_space_q(user, image), image.phash, limit=limit, exclude_id=image.id)
    if not near:
        return []
    found = Image.objects.select_related("generation").defer(*TILE_UNUSED).order_by()
    by_id = found.in_bulk([image_id for _, image_id in near])
    return [SimilarImage(by_id[image_id], d) for d, image_id in near if image_id in by_id]


def collapse_near_duplicates(images: list[Image], radius: int = SIMILAR_DISTANCE) -> list[Image]:
    """The images of one page with near-duplicates folded into the first of them (greedy, in page order):
    each image kept gets ``similar_count``, how many later images of this page it stands for. Costs no
    query. Only this page is clustered: a near-duplicate on another page stays there."""
    groups = clusters([(image.id, image.phash) for image in images], radius)
    kept = []
    for image in images:
        if image.id in groups:
            image.similar_count = len(groups[image.id])
            kept.append(image)
    return kept
