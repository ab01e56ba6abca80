"""Seed a team library with many realistic images, fast and without calling PixelDojo (benchmarks, demos).

Run from the command line with ``bench/seed_library.py``; import ``seed_library()`` once Django is set up.

    .venv/bin/python bench/seed_library.py --images 100000 --team "Bench Studio" [--members 8] [--batch 5000]
        [--seed 1] [--days 365] [--password PW] [--reset] [--no-analyze]

Creates (or reuses) the team and ``--members`` users named ``<team-slug>-1`` … (the first one owns the team,
the second is an admin, the rest are members), then writes, batch by batch and one transaction per batch:
generations (1 to 4 images each, prompts built deterministically from word lists, the four models, varied
aspect ratios, spread over the last ``--days`` days, a few failed), their images (mostly stored with
plausible storage keys — no files are written — a few expired or failed), one ledger charge per image, and
some favourites, collection items and tags. Finally it runs ``ANALYZE`` so the planner knows the new sizes
(``VACUUM (ANALYZE)`` on PostgreSQL when not inside a transaction).

The charges bypass ``credits.services`` (bulk inserts), so the spend roll-ups are rebuilt from the ledger
afterwards with ``credits.services.spend_rollup_rebuild()`` (what ``manage.py rebuild_spend_rollup`` runs).

``--reset`` first deletes the team's images, generations, their ledger entries and curation (the team and
its members stay). It is meant for seeded (benchmark, demo) teams: the app itself never deletes ledger rows.
Works on PostgreSQL and SQLite.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from credits.models import DailySpend, LedgerEntry
from credits.services import spend_rollup_rebuild
from generations.models import Generation, Image
from generations.pixeldojo import LORA_MODEL
from generations.services.persistence import expired_message
from library.models import Collection, CollectionItem, Favourite, ImageTag, Tag
from teams.models import Membership, Role, Team

# --- words -------------------------------------------------------------------------------------------------
# Lists are ordered most-used first: a Zipf-like weighting makes the head words common (a few thousand hits
# in 100,000 images) and the tail rarer; every detail word is rare (a few hundred hits).

SUBJECTS = (
    "portrait of an old fisherman", "lighthouse", "red fox", "astronaut", "dragon", "samurai",
    "robot", "tabby cat", "snowy owl", "humpback whale", "castle", "vintage tram", "violinist",
    "hummingbird", "sailing ship", "ballerina", "wolf pack", "treehouse", "knight in armour",
    "koi pond", "hot air balloon", "steam locomotive", "jellyfish", "mountain goat", "wizard",
    "greenhouse", "motorcycle", "bonsai tree", "polar bear", "cathedral", "submarine", "peacock",
    "windmill", "tiger", "chess player", "lantern festival", "octopus", "cyclist", "bakery",
    "fire engine", "elephant", "scarecrow", "glass bottle", "skateboarder", "hedgehog", "pagoda",
    "lemur", "typewriter",
)  # fmt: skip
ADJECTIVES = (
    "majestic", "tiny", "ancient", "futuristic", "weathered", "playful", "lonely", "colourful",
    "mysterious", "elegant", "rusty", "giant", "cozy", "abandoned", "glowing", "minimalist",
    "ornate", "sleepy", "fierce", "whimsical",
)  # fmt: skip
PLACES = (
    "in a misty forest", "on a neon-lit street in Tokyo", "by a frozen lake", "in the desert",
    "on a rocky coastline", "in a sunflower field", "inside a library", "on the surface of Mars",
    "in a bamboo grove", "at a busy harbour", "under the sea", "in a snowy village", "on a rooftop garden",
    "in a cyberpunk alley", "in an autumn park", "at a mountain pass", "in a flooded cathedral",
    "above the clouds", "in a victorian parlour", "at a night market", "on a tropical beach",
    "in a canyon", "inside a greenhouse", "on a subway platform", "in a lavender meadow",
    "at an abandoned fairground", "in a tea house", "on a glacier", "in a jungle temple",
    "on a floating island",
)  # fmt: skip
LIGHTING = (
    "golden hour", "soft morning light", "dramatic rim lighting", "moonlight", "neon glow",
    "overcast daylight", "candlelight", "sunset", "blue hour", "studio lighting", "volumetric fog",
    "harsh midday sun", "bioluminescent light", "stormy sky", "firelight", "aurora borealis",
)  # fmt: skip
STYLES = (
    "watercolor", "cinematic photograph", "oil painting", "digital illustration", "isometric render",
    "studio ghibli style", "pencil sketch", "35mm film photo", "ukiyo-e woodblock print", "3d render",
    "art nouveau poster", "pixel art", "charcoal drawing", "baroque painting", "low poly",
    "claymation", "vaporwave", "impressionist painting", "comic book panel", "macro photography",
    "tilt-shift photo", "stained glass", "papercut collage", "blueprint", "long exposure photo",
    "linocut", "gouache", "infrared photo", "mosaic", "cel shaded",
)  # fmt: skip
DETAILS = (
    "origami", "kaleidoscope", "saffron", "obsidian", "filigree", "marzipan", "quartz", "gondola",
    "zeppelin", "periscope", "harpsichord", "mandolin", "sextant", "astrolabe", "terrarium", "chandelier",
    "tapestry", "mosaic tiles", "cobblestones", "wisteria", "magnolia", "chrysanthemum", "cactus",
    "mangrove", "sequoia", "fjord", "geyser", "monsoon", "blizzard", "dewdrops", "fireflies", "embers",
    "confetti", "ribbons", "lanterns", "kites", "umbrellas", "balloons", "feathers", "seashells",
    "pearls", "velvet", "brocade", "copper pipes", "brass gears", "porcelain", "terracotta", "marble",
    "granite", "driftwood", "bioluminescence", "holograms", "circuitry", "graffiti", "billboards",
    "streetlamps", "scaffolding", "aqueduct", "minaret", "ziggurat", "obelisk", "catacombs", "lagoon",
    "atoll", "tundra", "savanna", "steppe", "moorland", "heather", "thistle", "lichen", "mushrooms",
    "ferns", "ivy", "orchids", "lotus", "cherry blossoms", "maple leaves", "pinecones", "acorns",
    "icicles", "frost", "steam", "smoke", "sparks", "lightning", "rainbow", "eclipse", "comet",
    "nebula", "constellations", "meteor shower", "tidepools", "waterfall", "rapids", "dunes", "oasis",
    "caravan", "rickshaw", "sampan", "dirigible", "monorail", "funicular", "carousel", "accordion",
    "gramophone", "jukebox", "telescope", "hourglass", "compass", "quill", "inkwell", "parchment",
    "scrolls", "lantern slides", "kimono", "poncho", "tartan", "sombrero", "fedora", "goggles",
)  # fmt: skip
QUALITY = ("highly detailed", "8k", "sharp focus", "award winning", "trending on artstation", "bokeh")

# Queries the benchmark uses: head words (a few thousand hits per 100,000 images), tail words (a few
# hundred), and pairs of head words (a few hundred).
SEARCH_EXAMPLES: dict[str, tuple[str, ...]] = {
    "common": ("lighthouse", "castle", "fox", "astronaut"),
    "rare": ("origami", "zeppelin", "harpsichord", "wisteria"),
    "two words": ("watercolor lighthouse", "fox forest", "cinematic astronaut", "dragon sunset"),
}

MODELS = (("flux-1.1-pro", 35), ("flux-pro", 25), ("flux-1.1-pro-ultra", 20), (LORA_MODEL, 20))
ASPECTS = (
    ("1:1", 28), ("16:9", 18), ("9:16", 14), ("4:3", 8), ("3:4", 7), ("3:2", 7), ("2:3", 6),
    ("21:9", 3), ("4:5", 4), ("5:4", 2), ("", 3),
)  # fmt: skip
OUTPUTS = ((1, 35), (2, 25), (3, 15), (4, 25))
COLLECTIONS = ("Client picks", "Moodboard", "Print candidates", "Social posts", "Portfolio", "Archive")
TAGS = (
    "hero", "wip", "approved", "print", "social", "client", "moody", "bright", "cover", "draft",
    "final", "reference", "campaign", "banner", "square", "favourite-of-the-week",
)  # fmt: skip
LORA_WEIGHTS = (
    "https://huggingface.co/pixel-studio/flux-lora-watercolor/resolve/main/lora.safetensors",
    "https://huggingface.co/pixel-studio/flux-lora-product/resolve/main/lora.safetensors",
    "https://huggingface.co/pixel-studio/flux-lora-portrait/resolve/main/lora.safetensors",
)

FAILED_GENERATION_RATE = 0.01  # a failed generation has no images
EXPIRED_IMAGE_RATE = 0.02  # PixelDojo deleted it before we stored it
FAILED_IMAGE_RATE = 0.01  # the download or the image check failed
FAVOURITE_RATE = 0.06  # an image some member favourited…
TWO_FANS_SHARE = 0.15  # …of those, favourited by two members
COLLECTION_RATE = 0.004  # per image and collection
TAG_RATE = 0.03  # an image with one or two tags

ANALYZE_TABLES = (
    Generation,
    Image,
    LedgerEntry,
    DailySpend,
    Favourite,
    Collection,
    CollectionItem,
    ImageTag,
    Tag,
    Membership,
)


def _cumulative(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _zipf(count: int, exponent: float = 0.4) -> list[float]:
    return _cumulative([1 / (rank + 1) ** exponent for rank in range(count)])


class PromptMaker:
    """Deterministic, varied prompts from the word lists (one ``random.Random`` drives everything)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.subjects = _zipf(len(SUBJECTS))
        self.places = _zipf(len(PLACES))
        self.styles = _zipf(len(STYLES))
        self.lighting = _zipf(len(LIGHTING), 0.3)

    def __call__(self) -> str:
        rng = self.rng
        subject = rng.choices(SUBJECTS, cum_weights=self.subjects)[0]
        place = rng.choices(PLACES, cum_weights=self.places)[0]
        style = rng.choices(STYLES, cum_weights=self.styles)[0]
        light = rng.choices(LIGHTING, cum_weights=self.lighting)[0]
        adjective = rng.choice(ADJECTIVES)
        shape = rng.random()
        if shape < 0.4:
            prompt = f"a {adjective} {subject} {place}, {light}, {style}"
        elif shape < 0.65:
            prompt = f"{style} of a {adjective} {subject} {place}"
        elif shape < 0.85:
            prompt = f"{subject} {place} during {light}, {style}"
        else:
            prompt = f"close-up of a {subject}, {light}, {style}"
        if rng.random() < 0.55:
            prompt += f", {rng.choice(DETAILS)}"
            if rng.random() < 0.25:
                prompt += f" and {rng.choice(DETAILS)}"
        if rng.random() < 0.4:
            prompt += f", {rng.choice(QUALITY)}"
        return prompt


def dimensions(aspect_ratio: str, megapixels: str) -> tuple[int, int]:
    """Pixel size of an image of that shape (PixelDojo's default is 16:9), rounded to multiples of 16."""
    across, down = (int(part) for part in (aspect_ratio or "16:9").split(":"))
    pixels = float(megapixels) * 1_000_000
    height = math.sqrt(pixels * down / across)
    return int(round(height * across / down / 16) * 16), int(round(height / 16) * 16)


@contextlib.contextmanager
def explicit_timestamps(*model_classes: type[models.Model]) -> Iterator[None]:
    """Let bulk_create keep the ``created_at``-style values we set (auto_now/auto_now_add off for a while).

    This changes the model fields for the whole process, so nothing else may save these models meanwhile
    (fine for a management command; a test calls it between its own steps).
    """
    saved: list[tuple[models.DateTimeField, bool, bool]] = []
    for model in model_classes:
        for model_field in model._meta.concrete_fields:
            automatic = getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False)
            if automatic:
                saved.append((model_field, model_field.auto_now, model_field.auto_now_add))
                model_field.auto_now = model_field.auto_now_add = False
    try:
        yield
    finally:
        for model_field, auto_now, auto_now_add in saved:
            model_field.auto_now, model_field.auto_now_add = auto_now, auto_now_add


@dataclass
class SeedReport:
    team: Team
    members: list[Any]
    images: int = 0
    generations: int = 0
    ledger_entries: int = 0
    favourites: int = 0
    collection_items: int = 0
    image_tags: int = 0
    deleted_images: int = 0
    rollup_rows: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)


def member_usernames(team_name: str, count: int) -> list[str]:
    slug = slugify(team_name)[:100] or "team"
    return [f"{slug}-{number}" for number in range(1, count + 1)]


def ensure_team(*, team_name: str, members: int, password: str | None) -> tuple[Team, list[Any]]:
    """The team (the oldest of that name, else a new one) and its seeded members, created when missing."""
    user_model = get_user_model()
    names = member_usernames(team_name, members)
    existing = {user.username: user for user in user_model.objects.filter(username__in=names)}
    hashed = make_password(password)  # once: hashing is slow, the members share it (unusable when None)
    missing = [
        user_model(username=name, email=f"{name}@example.com", password=hashed)
        for name in names
        if name not in existing
    ]
    for user in missing:
        user.save()
        existing[user.username] = user
    if password is not None:
        user_model.objects.filter(username__in=names).exclude(password=hashed).update(password=hashed)
    users = [existing[name] for name in names]
    team = Team.objects.filter(name=team_name).order_by("id").first()
    if team is None:
        team = Team.objects.create(name=team_name, created_by=users[0])
    roles = {users[0].id: Role.OWNER}
    if len(users) > 2:
        roles[users[1].id] = Role.ADMIN
    present = set(Membership.objects.filter(team=team, user__in=users).values_list("user_id", flat=True))
    Membership.objects.bulk_create(
        [
            Membership(team=team, user=user, role=roles.get(user.id, Role.MEMBER))
            for user in users
            if user.id not in present
        ]
    )
    return team, users


def reset_team(team: Team) -> int:
    """Delete the team's generations and images with their ledger entries and curation; keep the team."""
    images = Image.objects.filter(team=team)
    count = images.count()
    # The app never deletes ledger rows (they are append-only); a reset of seeded data has to. A queryset
    # delete does not go through LedgerEntry.delete(), which refuses.
    LedgerEntry.objects.filter(image__team=team).delete()
    LedgerEntry.objects.filter(generation__team=team).delete()
    for model in (Favourite, CollectionItem, ImageTag):
        model.objects.filter(image__team=team).delete()
    Collection.objects.filter(cover__team=team).update(cover=None)
    Collection.objects.filter(team=team).delete()
    # Nothing else points at these rows any more, so both go with one DELETE each (no per-row collector).
    for model in (Image, Generation):
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)} WHERE team_id = %s",  # noqa: S608
                [team.id],
            )
    return count


def analyze(*, vacuum: bool = False) -> str:
    """ANALYZE the seeded tables (on PostgreSQL outside a transaction: VACUUM, or VACUUM ANALYZE, them).

    VACUUM makes the space of deleted rows reusable and sets the visibility map, as autovacuum would do
    later anyway; it cannot run inside a transaction (e.g. a test), where only ANALYZE runs.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in ANALYZE_TABLES)
            if connection.in_atomic_block:
                statement = f"ANALYZE {tables}" if not vacuum else ""
            else:
                statement = f"VACUUM {tables}" if vacuum else f"VACUUM (ANALYZE) {tables}"
        else:
            statement = "" if vacuum else "ANALYZE"
        if statement:
            cursor.execute(statement)
        return statement.split(" ", 1)[0] if statement else ""


class Seeder:
    """Builds one batch of rows in memory at a time and writes it with bulk_create in one transaction."""

    def __init__(self, *, team: Team, users: list[Any], seed: int, days: int, batch: int) -> None:
        self.team = team
        self.users = users
        self.batch = batch
        self.rng = random.Random(seed)
        self.prompt = PromptMaker(self.rng)
        self.until = timezone.now()  # nothing is dated later than this
        self.now = self.until - timedelta(minutes=2)  # generations start before, so their images end before
        self.span = days * 86400.0
        self.author_weights = _zipf(len(users), 0.7)
        self.models = [name for name, _ in MODELS]
        self.model_weights = _cumulative([weight for _, weight in MODELS])
        self.aspects = [name for name, _ in ASPECTS]
        self.aspect_weights = _cumulative([weight for _, weight in ASPECTS])
        self.outputs = [count for count, _ in OUTPUTS]
        self.output_weights = _cumulative([weight for _, weight in OUTPUTS])
        self.collections = [
            Collection.objects.get_or_create(
                team=team, name=name, defaults={"created_by": self.rng.choice(users)}
            )[0]
            for name in COLLECTIONS
        ]
        Tag.objects.bulk_create([Tag(name=name) for name in TAGS], ignore_conflicts=True)
        self.tags = list(Tag.objects.filter(name__in=TAGS).order_by("name"))

    def _when(self) -> datetime:
        return self.now - timedelta(seconds=self.rng.random() * self.span)

    def _generation(self, remaining: int) -> tuple[Generation, int]:
        rng = self.rng
        author = rng.choices(self.users, cum_weights=self.author_weights)[0]
        model = rng.choices(self.models, cum_weights=self.model_weights)[0]
        aspect = rng.choices(self.aspects, cum_weights=self.aspect_weights)[0]
        outputs = min(rng.choices(self.outputs, cum_weights=self.output_weights)[0], remaining)
        created = self._when()
        finished = created + timedelta(seconds=rng.uniform(4, 40))
        failed = rng.random() < FAILED_GENERATION_RATE
        lora = model == LORA_MODEL
        generation = Generation(
            code=uuid.uuid4(),
            user_id=author.id,
            team_id=self.team.id,
            prompt=self.prompt(),
            model=model,
            aspect_ratio=aspect,
            num_outputs=outputs,
            seed=rng.getrandbits(31) if rng.random() < 0.3 else None,
            lora_weights=rng.choice(LORA_WEIGHTS) if lora else "",
            lora_scale=round(rng.uniform(0.6, 1.2), 2) if lora else None,
            megapixels="0.25" if rng.random() < 0.1 else "1",
            go_fast=True if rng.random() < 0.2 else None,
            status=Generation.Status.FAILED if failed else Generation.Status.DONE,
            error_code="server_error" if failed else "",
            error_message="PixelDojo kept failing (server_error) after 6 attempts." if failed else "",
            attempts=6 if failed else 1,
            provider_id="" if failed else f"pd_{rng.getrandbits(64):016x}",
            provider_created_at=None if failed else created + timedelta(seconds=1),
            created_at=created,
            updated_at=finished,
            finished_at=finished,
        )
        return generation, 0 if failed else outputs

    def _image(self, generation: Generation, index: int) -> Image:
        rng = self.rng
        code = uuid.uuid4()
        created = generation.finished_at + timedelta(milliseconds=rng.randint(5, 900) + index)
        outcome = rng.random()
        status = (
            Image.Status.EXPIRED
            if outcome < EXPIRED_IMAGE_RATE
            else Image.Status.FAILED
            if outcome < EXPIRED_IMAGE_RATE + FAILED_IMAGE_RATE
            else Image.Status.STORED
        )
        values: dict[str, Any] = {
            "code": code,
            "generation_id": generation.id,
            "user_id": generation.user_id,
            "team_id": generation.team_id,
            "index": index,
            "provider_url": f"https://images.pixeldojo.ai/{generation.provider_id}/{index}.png",
            "status": status,
            "attempts": 1,
            "created_at": created,
            "updated_at": created,
        }
        if status == Image.Status.STORED:
            width, height = dimensions(generation.aspect_ratio, generation.megapixels)
            jpeg = generation.model == "flux-1.1-pro-ultra"
            extension = "jpg" if jpeg else "png"
            stored = created + timedelta(seconds=rng.uniform(0.5, 6))
            values.update(
                file=f"originals/{generation.code}/{code}.{extension}",
                thumbnail=f"thumbnails/{generation.code}/{code}-640.webp",
                thumbnail_small=f"thumbnails/{generation.code}/{code}-320.webp",
                content_type="image/jpeg" if jpeg else "image/png",
                width=width,
                height=height,
                size_bytes=int(width * height * rng.uniform(0.25, 1.6)),
                sha256=f"{rng.getrandbits(256):064x}",
                stored_at=stored,
                updated_at=stored,
            )
        elif status == Image.Status.EXPIRED:
            values["error_message"] = expired_message()
            values["attempts"] = 8
        else:
            values["error_message"] = "The downloaded file is not a valid image."
            values["attempts"] = 8
        return Image(**values)

    def write_batch(self, count: int) -> dict[str, int]:
        """Write generations holding exactly ``count`` images, with everything hanging off them."""
        rng = self.rng
        generations: list[Generation] = []
        planned: list[int] = []
        remaining = count
        while remaining > 0:
            generation, outputs = self._generation(remaining)
            generations.append(generation)
            planned.append(outputs)
            remaining -= outputs
        with transaction.atomic():
            Generation.objects.bulk_create(generations, batch_size=self.batch)
            self._ensure_pks(Generation, generations)
            made = [generation.id for generation in generations]  # none remixes: each its own family
            unrooted = Generation.objects.filter(id__range=(min(made), max(made)), family_root__isnull=True)
            unrooted.update(family_root=F("id"))
            images = [
                self._image(generation, index)
                for generation, outputs in zip(generations, planned, strict=True)
                for index in range(outputs)
            ]
            Image.objects.bulk_create(images, batch_size=self.batch)
            self._ensure_pks(Image, images)
            by_id = {generation.id: generation for generation in generations}
            charges = [
                LedgerEntry(
                    kind=LedgerEntry.Kind.CHARGE,
                    user_id=image.user_id,
                    team_id=image.team_id,
                    generation_id=image.generation_id,
                    image_id=image.id,
                    model=by_id[image.generation_id].model,
                    credits=1,
                    created_at=image.created_at,
                )
                for image in images
            ]
            LedgerEntry.objects.bulk_create(charges, batch_size=self.batch)
            favourites: list[Favourite] = []
            items: list[CollectionItem] = []
            tags: list[ImageTag] = []
            for image in images:
                later = min(image.created_at + timedelta(hours=rng.uniform(0.1, 72)), self.until)
                if rng.random() < FAVOURITE_RATE:
                    fans = 2 if rng.random() < TWO_FANS_SHARE and len(self.users) > 1 else 1
                    for fan in rng.sample(self.users, fans):
                        favourites.append(
                            Favourite(
                                user_id=fan.id,
                                image_id=image.id,
                                created_at=later,
                                team_id=image.team_id,
                                image_created_at=image.created_at,
                            )
                        )
                for collection in self.collections:
                    if rng.random() < COLLECTION_RATE:
                        items.append(
                            CollectionItem(
                                collection_id=collection.id,
                                image_id=image.id,
                                added_by_id=rng.choice(self.users).id,
                                added_at=later,
                            )
                        )
                if rng.random() < TAG_RATE:
                    for tag in rng.sample(self.tags, rng.choice((1, 1, 2))):
                        tags.append(ImageTag(image_id=image.id, tag_id=tag.id, added_by_id=image.user_id))
            Favourite.objects.bulk_create(favourites, batch_size=self.batch)
            CollectionItem.objects.bulk_create(items, batch_size=self.batch)
            ImageTag.objects.bulk_create(tags, batch_size=self.batch)
        return {
            "generations": len(generations),
            "images": len(images),
            "ledger_entries": len(charges),
            "favourites": len(favourites),
            "collection_items": len(items),
            "image_tags": len(tags),
        }

    @staticmethod
    def _ensure_pks(model: type[models.Model], objects: list[Any]) -> None:
        """Backends that cannot return ids from a bulk insert: look them up by the unique ``code``."""
        if not objects or objects[0].pk is not None:
            return
        ids = dict(model.objects.filter(code__in=[o.code for o in objects]).values_list("code", "id"))
        for obj in objects:
            obj.pk = ids[obj.code]

    def set_covers(self) -> None:
        for collection in self.collections:
            if collection.cover_id is None:
                first = collection.items.order_by("added_at", "id").values_list("image_id", flat=True).first()
                if first is not None:
                    Collection.objects.filter(id=collection.id).update(cover_id=first)


def seed_library(
    *,
    team_name: str,
    images: int,
    members: int = 8,
    batch: int = 5000,
    seed: int = 1,
    days: int = 365,
    reset: bool = False,
    password: str | None = None,
    run_analyze: bool = True,
    progress: Callable[[str], None] = lambda message: None,
) -> SeedReport:
    """Seed ``images`` images into the team ``team_name`` (see the module docstring)."""
    if images < 0 or members < 1 or batch < 1 or days < 1:
        raise ValueError("images must be ≥ 0; members, batch and days ≥ 1")
    started = time.perf_counter()
    with transaction.atomic():
        team, users = ensure_team(team_name=team_name, members=members, password=password)
    report = SeedReport(team=team, members=users)
    if reset:
        phase = time.perf_counter()
        with transaction.atomic():
            report.deleted_images = reset_team(team)
        analyze(vacuum=True)  # so the new rows reuse the deleted rows' space instead of growing the tables
        report.phases["reset"] = time.perf_counter() - phase
        progress(f"reset: deleted {report.deleted_images:,} images of {team.name!r}")
    phase = time.perf_counter()
    with explicit_timestamps(Generation, Image, LedgerEntry, Favourite, CollectionItem):
        seeder = Seeder(team=team, users=users, seed=seed, days=days, batch=batch)
        while report.images < images:
            written = seeder.write_batch(min(batch, images - report.images))
            for name, value in written.items():
                setattr(report, name, getattr(report, name) + value)
            elapsed = time.perf_counter() - phase
            progress(
                f"{report.images:>9,}/{images:,} images, {report.generations:,} generations "
                f"({elapsed:.1f} s, {report.images / elapsed:,.0f} images/s)"
            )
        seeder.set_covers()
    report.phases["insert"] = time.perf_counter() - phase
    phase = time.perf_counter()
    report.rollup_rows = spend_rollup_rebuild()  # the credits app's own repair for bulk imports
    report.phases["roll-up"] = time.perf_counter() - phase
    if run_analyze:
        phase = time.perf_counter()
        statement = analyze()
        report.phases[statement.lower() or "analyze"] = time.perf_counter() - phase
    report.seconds = time.perf_counter() - started
    return report
