"""Seed many teams' libraries in one PostgreSQL database in seconds: ``INSERT … SELECT generate_series``.

``bench/seed_library.py --scale`` runs ``seed_scale()``: teams of different sizes (10,000, 100,000 and
1,000,000 images by default) side by side, plus personal images, so that the library benchmark measures every
team size against the same tables (the planner sees all the rows, as in a shared production database).

Each team gets ``members`` users named ``<team-slug>-1`` … (the first owns it, the second is an admin) and one
shared user, ``scale-member`` (a member of every team, with ``personal`` personal images of their own), whom
``bench/library_speed.py --scale`` logs in as. Rows are built by the database from the word lists of
``tools/seeding.py`` (head words more frequent than tail words, as there): generations of 1 to 4 images
(average 2.5), spread over ``days`` days; images mostly stored, a few expired or failed; one ledger charge
per image; ~6 % of images favourited by a member (the shared member included); ~0.4 % of images in each of
the team's six collections; ~3 % tagged. Then the spend roll-ups are rebuilt from the ledger and the tables
are vacuumed and analysed. ``setseed`` makes the same ``seed`` write the same library.

PostgreSQL only (SQLite has no ``generate_series``): use ``tools/seeding.py`` elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from credits.services import spend_rollup_rebuild
from library.models import Collection, Tag
from teams.models import Membership, Role, Team
from tools.seeding import (
    ADJECTIVES,
    COLLECTIONS,
    DETAILS,
    LIGHTING,
    PLACES,
    QUALITY,
    STYLES,
    SUBJECTS,
    TAGS,
    analyze,
    ensure_team,
    reset_team,
)

SHARED_MEMBER = "scale-member"


def scale_team_name(images: int) -> str:
    """``Scale 10k``, ``Scale 1M``: the team of that size."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if images >= size and images % size == 0:
            return f"Scale {images // size}{unit}"
    return f"Scale {images}"


DEFAULT_SIZES = {scale_team_name(size): size for size in (10_000, 100_000, 1_000_000)}
CHUNK = 250_000  # images per INSERT … SELECT (one transaction each): bounded WAL and memory


@dataclass
class ScaleReport:
    teams: dict[str, int] = field(default_factory=dict)  # team name → images
    personal: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def _pick(words: tuple[str, ...], skew: float = 1.0) -> str:
    """SQL for a word of ``words`` (a parameter array); ``skew`` > 1 favours the head of the list."""
    return f"(%({id(words)})s::text[])[1 + floor(power(random(), {skew}) * {len(words)})::int]"


_WORDS = {
    str(id(words)): list(words)
    for words in (SUBJECTS, ADJECTIVES, PLACES, LIGHTING, STYLES, DETAILS, QUALITY)
}

_PROMPT = f"""
    CASE WHEN random() < 0.4 THEN 'a ' || {_pick(ADJECTIVES)} || ' ' || {_pick(SUBJECTS, 1.6)} || ' '
              || {_pick(PLACES, 1.5)} || ', ' || {_pick(LIGHTING, 1.3)} || ', ' || {_pick(STYLES, 1.5)}
         ELSE {_pick(STYLES, 1.5)} || ' of a ' || {_pick(ADJECTIVES)} || ' ' || {_pick(SUBJECTS, 1.6)} || ' '
              || {_pick(PLACES, 1.5)} END
    || CASE WHEN random() < 0.55 THEN ', ' || {_pick(DETAILS)} ELSE '' END
    || CASE WHEN random() < 0.4 THEN ', ' || {_pick(QUALITY)} ELSE '' END
"""

# The f-strings only add our own SQL (the word picks); every value is a query parameter.
_GENERATIONS = f"""
INSERT INTO generations_generation (
    code, prompt, model, aspect_ratio, num_outputs, seed, lora_weights, lora_scale, megapixels, go_fast,
    status, error_code, error_message, attempts, provider_id, provider_created_at, created_at, updated_at,
    finished_at, user_id, team_id, provider_answer, answer_anomaly)
SELECT gen_random_uuid(), {_PROMPT},
    (ARRAY['flux-1.1-pro','flux-pro','flux-1.1-pro-ultra','flux-1.1-pro'])[1 + (g %% 4)],
    (ARRAY['1:1','16:9','9:16','4:3','3:4','3:2','2:3','1:1','','4:5'])[1 + floor(random() * 10)::int],
    1 + (g * 3) %% 4, NULL, '', NULL, '1', NULL,
    'done', '', '', 1, 'bulk_' || %(tag)s || '_' || g, t, t, t + interval '20 seconds',
    t + interval '20 seconds',
    (%(authors)s::int[])[1 + floor(power(random(), 1.5) * %(author_count)s)::int], %(team_id)s, '', ''
FROM (SELECT g, now() - interval '5 minutes' - random() * %(days)s * interval '1 day' AS t
      FROM generate_series(%(first)s, %(last)s) AS g) AS numbered
"""  # noqa: S608

# Each seeded generation remixed nothing: it is the root of its own family.
_ROOTS = """
UPDATE generations_generation SET family_root = id WHERE id BETWEEN %(low)s AND %(high)s
"""

_IMAGES = """
INSERT INTO generations_image (
    code, index, provider_url, status, error_message, attempts, file, thumbnail, thumbnail_small,
    content_type, width, height, size_bytes, sha256, created_at, stored_at, generation_id, updated_at,
    team_id, user_id, provider_details, waiting_host)
SELECT gen_random_uuid(), i, 'https://images.pixeldojo.ai/' || g.provider_id || '/' || i || '.png',
    s.status, CASE WHEN s.status = 'stored' THEN '' ELSE 'Not stored.' END, 1,
    CASE WHEN s.status = 'stored' THEN 'originals/' || g.code || '/' || i || '.png' ELSE '' END,
    CASE WHEN s.status = 'stored' THEN 'thumbnails/' || g.code || '/' || i || '.webp' ELSE '' END,
    CASE WHEN s.status = 'stored' THEN 'thumbnails/' || g.code || '/' || i || '-320.webp' ELSE '' END,
    CASE WHEN s.status = 'stored' THEN 'image/png' ELSE '' END,
    1024, 1024, 1500000, md5(g.code::text || i), g.created_at + interval '5 seconds',
    g.created_at + interval '5 seconds', g.id, g.created_at + interval '5 seconds', g.team_id, g.user_id,
    '{}', ''
FROM generations_generation g
CROSS JOIN LATERAL generate_series(0, g.num_outputs - 1) AS i
CROSS JOIN LATERAL (SELECT CASE WHEN r < 0.02 THEN 'expired' WHEN r < 0.03 THEN 'failed' ELSE 'stored' END
                    AS status FROM (SELECT random() + 0 * i AS r) AS drawn) AS s
WHERE g.provider_id LIKE 'bulk\\_' || %(tag)s || '\\_%%' AND g.id BETWEEN %(low)s AND %(high)s
"""

_CHARGES = """
INSERT INTO credits_ledgerentry (kind, model, credits, note, created_at, generation_id, image_id, user_id,
                                 team_id)
SELECT 'charge', g.model, 1, '', i.created_at, g.id, i.id, i.user_id, i.team_id
FROM generations_image i JOIN generations_generation g ON g.id = i.generation_id
WHERE i.id > %(after)s AND i.generation_id BETWEEN %(low)s AND %(high)s
"""

_FAVOURITES = """
INSERT INTO library_favourite (created_at, image_id, user_id, team_id, image_created_at)
SELECT i.created_at + interval '1 hour', i.id, (%(fans)s::int[])[1 + floor(random() * %(fan_count)s)::int],
    i.team_id, i.created_at
FROM generations_image i WHERE i.id > %(after)s AND i.generation_id BETWEEN %(low)s AND %(high)s
  AND random() < 0.06
ON CONFLICT DO NOTHING
"""

_ITEMS = """
INSERT INTO library_collectionitem (collection_id, image_id, added_by_id, added_at)
SELECT c, i.id, i.user_id, i.created_at + interval '1 hour'
FROM generations_image i CROSS JOIN unnest(%(collections)s::bigint[]) AS c
WHERE i.id > %(after)s AND i.generation_id BETWEEN %(low)s AND %(high)s AND random() < 0.004
ON CONFLICT DO NOTHING
"""

_TAGS = """
INSERT INTO library_imagetag (image_id, tag_id, added_by_id)
SELECT i.id, (%(tags)s::bigint[])[1 + floor(power(random(), 1.3) * %(tag_count)s)::int], i.user_id
FROM generations_image i
WHERE i.id > %(after)s AND i.generation_id BETWEEN %(low)s AND %(high)s AND random() < 0.03
ON CONFLICT DO NOTHING
"""


def _max_id(cursor: Any, table: str) -> int:
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608 - our own table names
    return cursor.fetchone()[0]


def seed_space(
    *,
    team: Team | None,
    authors: list[Any],
    fans: list[Any],
    images: int,
    days: int,
    tag: str,
    progress: Callable[[str], None],
) -> int:
    """Write about ``images`` images (exactly, for a multiple of 10) into ``team`` (``None``: personal, one
    author) with their generations, charges and curation; returns the images written."""
    collections = []
    if team is not None:
        collections = [
            Collection.objects.get_or_create(team=team, name=name, defaults={"created_by": authors[0]})[0].id
            for name in COLLECTIONS
        ]
    tag_ids = list(Tag.objects.filter(name__in=TAGS).order_by("name").values_list("id", flat=True))
    generations = max(1, round(images / 2.5))  # 1 + (g·3 mod 4) outputs: 1, 4, 3, 2 … → 2.5 on average
    written, started, first = 0, time.perf_counter(), 1
    step = max(1, CHUNK * 2 // 5)
    while first <= generations:
        last = min(generations, first + step - 1)
        with transaction.atomic(), connection.cursor() as cursor:
            low = _max_id(cursor, "generations_generation") + 1
            after = _max_id(cursor, "generations_image")
            params = {
                **_WORDS,
                "tag": tag,
                "first": first,
                "last": last,
                "days": days,
                "team_id": team.id if team else None,
                "authors": [user.id for user in authors],
                "author_count": len(authors),
            }
            cursor.execute(_GENERATIONS, params)
            high = _max_id(cursor, "generations_generation")
            span = {"low": low, "high": high, "after": after, "tag": tag}
            cursor.execute(_ROOTS, span)
            cursor.execute(_IMAGES, span)
            written += cursor.rowcount
            cursor.execute(_CHARGES, span)
            cursor.execute(_FAVOURITES, {**span, "fans": [u.id for u in fans], "fan_count": len(fans)})
            if collections:
                cursor.execute(_ITEMS, {**span, "collections": collections})
            cursor.execute(_TAGS, {**span, "tags": tag_ids, "tag_count": len(tag_ids)})
        first = last + 1
        elapsed = time.perf_counter() - started
        progress(f"  {tag}: {written:>9,} images ({elapsed:.1f} s, {written / elapsed:,.0f} images/s)")
    return written


def shared_member(password: str | None) -> Any:
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=SHARED_MEMBER, defaults={"email": f"{SHARED_MEMBER}@example.com"}
    )
    if created or password is not None:
        user.password = make_password(password)
        user.save(update_fields=["password"])
    return user


def seed_scale(
    *,
    sizes: dict[str, int] | None = None,
    personal: int = 20_000,
    members: int = 8,
    days: int = 365,
    seed: int = 1,
    password: str | None = None,
    reset: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> ScaleReport:
    """Seed the teams ``sizes`` (name → images) and the shared member's personal images (module docstring)."""
    if connection.vendor != "postgresql":
        raise ValueError("--scale needs PostgreSQL (generate_series); use tools/seeding.py elsewhere")
    sizes = DEFAULT_SIZES if sizes is None else sizes
    report, started = ScaleReport(), time.perf_counter()
    Tag.objects.bulk_create([Tag(name=name) for name in TAGS], ignore_conflicts=True)
    member = shared_member(password)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [((seed * 7919) % 1000) / 1000])
    for name, count in sizes.items():
        phase = time.perf_counter()
        with transaction.atomic():
            team, users = ensure_team(team_name=name, members=members, password=password)
            Membership.objects.get_or_create(team=team, user=member, defaults={"role": Role.MEMBER})
            if reset:
                reset_team(team)
        present = team.images.count()
        if present < count:
            report.teams[name] = present + seed_space(
                team=team,
                authors=users,
                fans=[*users, member],
                images=count - present,
                days=days,
                tag=f"t{team.id}",
                progress=progress,
            )
        else:
            report.teams[name] = present
            progress(f"  {name}: {present:,} images already")
        report.phases[name] = time.perf_counter() - phase
    phase = time.perf_counter()
    present = member.images.filter(team__isnull=True).count()
    report.personal = present
    if present < personal:
        report.personal += seed_space(
            team=None,
            authors=[member],
            fans=[member],
            images=personal - present,
            days=days,
            tag=f"u{member.id}",
            progress=progress,
        )
    report.phases["personal"] = time.perf_counter() - phase
    phase = time.perf_counter()
    spend_rollup_rebuild()
    report.phases["roll-up"] = time.perf_counter() - phase
    phase = time.perf_counter()
    analyze()
    report.phases["vacuum analyze"] = time.perf_counter() - phase
    report.seconds = time.perf_counter() - started
    return report
