"""Generations (one prompt submitted to PixelDojo) and the images they produced."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone

from generations.fingerprints import FINGERPRINT_LENGTH, STORED_FIELDS, fingerprint
from generations.pixeldojo import MEGAPIXEL_LABELS, MODEL_LABELS, GenerationRequest, provider_text

# A generation stores its GenerationRequest field for field; these text fields are blank when unset (None).
REQUEST_FIELDS = tuple(field.name for field in dataclasses.fields(GenerationRequest))
BLANK_WHEN_UNSET = frozenset({"aspect_ratio", "lora_weights", "megapixels"})
# What people read beside each PixelDojo parameter on the detail pages, in the order shown.
PARAMETER_LABELS: dict[str, str] = {
    "model": "Model",
    "aspect_ratio": "Aspect ratio",
    "num_outputs": "Images",
    "seed": "Seed",
    "megapixels": "Megapixels",
    "go_fast": "Go fast",
    "lora_weights": "LoRA weights",
    "lora_scale": "LoRA scale",
}

# Work PixelDojo has not answered yet: asked for (queued, or being called) and no answer recorded. Budgets
# count its images as reserved, the worker may claim it, the sweeper re-queues it when stale. Plain values:
# it also defines the partial index below, which the migrations hold as written.
AWAITING_ANSWER_STATUSES = ("queued", "generating")
AWAITING_ANSWER = models.Q(status__in=list(AWAITING_ANSWER_STATUSES), provider_id="")


class GenerationQuerySet(models.QuerySet):
    def awaiting_answer(self) -> GenerationQuerySet:
        """Generations PixelDojo has not answered yet (what budgets count as reserved)."""
        return self.filter(AWAITING_ANSWER)

    def unleased(self, *, now: datetime | None = None) -> GenerationQuerySet:
        """Generations no worker holds the lease of (``now``)."""
        now = now or timezone.now()
        return self.filter(models.Q(lease_until__isnull=True) | models.Q(lease_until__lt=now))


class Comparison(models.Model):
    """One prompt sent to 2 to 4 models in one submission, shown side by side (``/compare/<code>/``).

    Its generations point at it (``Generation.comparison``); it is seen by whoever may see them: the team's
    members, or only its author when it is personal.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comparisons")
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="comparisons",
        help_text="The team it was made in; empty for personal work.",
    )
    prompt = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"comparison: {self.prompt[:40]}"


class Generation(models.Model):
    """One ``POST /flux`` request, its parameters and its lifecycle."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        GENERATING = "generating", "Generating"
        SAVING = "saving", "Saving"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.GENERATING, Status.SAVING)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="generations",
        help_text="The team it was made in; empty for personal work.",
    )

    prompt = models.TextField()
    model = models.CharField(max_length=64)
    aspect_ratio = models.CharField(max_length=8, blank=True)
    num_outputs = models.PositiveSmallIntegerField(default=1)
    seed = models.BigIntegerField(null=True, blank=True)
    lora_weights = models.URLField(max_length=2000, blank=True)
    lora_scale = models.FloatField(null=True, blank=True)
    megapixels = models.CharField(max_length=8, blank=True)
    go_fast = models.BooleanField(null=True, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="PixelDojo calls made so far.")
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is calling PixelDojo for it until then."
    )

    waiting_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A worker waits for a PixelDojo slot for it, or asks again, until then (the fair queue).",
    )

    price = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Credits it is expected to cost (images times the model cost), reserved until answered.",
    )
    called_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When PixelDojo was last called for it."
    )
    provider_id = models.CharField(max_length=128, blank=True)
    provider_created_at = models.DateTimeField(null=True, blank=True)
    provider_answer = models.TextField(
        blank=True,
        help_text="PixelDojo's 2xx answer as received (capped, secrets redacted), kept before it is read.",
    )
    answer_anomaly = models.TextField(
        blank=True,
        help_text="What the answer held beyond what was asked (extra or repeated images), not kept.",
    )
    # Catalogue models run as PixelDojo jobs: the body sent to POST /models/{apiId}/run, and the job as
    # last polled. ``provider_id`` holds the job's id from the moment PixelDojo accepted it.
    job_input = models.JSONField(
        default=dict,
        blank=True,
        help_text="The request sent as a PixelDojo job (catalogue models); empty for POST /flux work.",
    )
    job_status = models.CharField(
        max_length=16, blank=True, help_text="The job's status as PixelDojo last reported it."
    )
    job_polls = models.PositiveIntegerField(default=0, help_text="Times the job was polled.")
    job_next_poll_at = models.DateTimeField(
        null=True, blank=True, help_text="When the job is polled next (the sweeper resumes it if missed)."
    )

    comparison = models.ForeignKey(
        Comparison,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="generations",
        help_text="The comparison it is a column of (the same prompt sent to other models at once).",
    )
    # Remix lineage: the image this generation remixed (kept while that image exists), and its family's key,
    # the id of the generation at the top of the chain (its own id for a generation that remixed nothing).
    # The key is a plain number, not a foreign key: a family stays one family when its root is deleted.
    remixed_from = models.ForeignKey(
        "Image",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="remixes",
        help_text="The image it was remixed from (empty: not a remix, or that image was deleted).",
    )
    family_root = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Id of the generation its remix chain starts at (its own id when it remixed nothing).",
    )
    fingerprint = models.CharField(
        max_length=FINGERPRINT_LENGTH,
        blank=True,
        help_text="What it asked for, as a key (generations/fingerprints.py): the same key would make the "
        "same images. Empty without a fixed seed (never reused).",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="generation_user_newest"),
            # Work PixelDojo has not answered yet, per team: what budgets count as reserved.
            models.Index(
                fields=["team", "user"],
                condition=AWAITING_ANSWER,
                name="generation_team_in_flight",
            ),
            # Reuse: the newest generation with this key in one team, or by one user (rows with a key only).
            models.Index(
                fields=["fingerprint", "team", "user", "-created_at"],
                condition=~models.Q(fingerprint=""),
                name="generation_fingerprint",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model}: {self.prompt[:40]}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def uses_job_api(self) -> bool:
        """Sent as a PixelDojo job (a catalogue model), not through ``POST /flux``."""
        return bool(self.job_input)

    @property
    def is_polling_job(self) -> bool:
        """A job PixelDojo accepted whose outcome is not recorded yet."""
        return (
            self.status == self.Status.GENERATING
            and bool(self.provider_id)
            and self.job_status
            in (
                "pending",
                "processing",
            )
        )

    @property
    def is_awaiting_answer(self) -> bool:
        """This row matches ``AWAITING_ANSWER`` (as last loaded)."""
        return self.status in AWAITING_ANSWER_STATUSES and not self.provider_id

    @staticmethod
    def fields_for(params: GenerationRequest) -> dict[str, object]:
        """The fields that store ``params``: unset text blank, one output unless more were asked for."""
        values = {name: getattr(params, name) for name in REQUEST_FIELDS}
        values.update({name: values[name] or "" for name in BLANK_WHEN_UNSET})
        values["num_outputs"] = params.num_outputs or 1
        return values

    @staticmethod
    def fingerprint_for(params: GenerationRequest) -> str:
        """The reuse key of a ``POST /flux`` request (``""`` without a fixed seed)."""
        values = Generation.fields_for(params)
        return fingerprint(**{name: values[name] for name in STORED_FIELDS})

    @staticmethod
    def job_fingerprint_for(*, model: str, job_input: dict[str, object]) -> str:
        """The reuse key of a catalogue model's job (``""`` unless its input holds a fixed integer seed)."""
        return fingerprint(prompt=str(job_input.get("prompt") or ""), model=model, job_input=job_input)

    def stored_fingerprint(self) -> str:
        """The reuse key of this row's request as stored (what ``fingerprint`` should hold)."""
        return fingerprint(**{name: getattr(self, name) for name in STORED_FIELDS}, job_input=self.job_input)

    def to_request(self) -> GenerationRequest:
        """The PixelDojo request this generation stands for (blank text fields unset)."""
        values = {name: getattr(self, name) for name in REQUEST_FIELDS}
        values.update({name: values[name] or None for name in BLANK_WHEN_UNSET})
        return GenerationRequest(**values)

    @property
    def model_label(self) -> str:
        """The model's name for people (its API name when the catalogue does not know it)."""
        return MODEL_LABELS.get(self.model, self.model)

    def parameters(self) -> dict[str, object]:
        """The parameters as sent to PixelDojo (unset ones omitted), for the detail pages."""
        if self.job_input:
            return {"model": self.model, **self.job_input}
        return self.to_request().to_payload()

    def parameter_rows(self) -> list[tuple[str, str]]:
        """The set parameters as (label, value) for people: labels, not API names; the prompt left out."""
        sent = self.parameters()
        if self.job_input:  # a catalogue model's own parameters, by their names
            rows = [("Model", self.model_label)]
            rows += [(name, str(value)) for name, value in self.job_input.items() if name != "prompt"]
            return rows
        rows: list[tuple[str, str]] = []
        for name, label in PARAMETER_LABELS.items():
            if name not in sent:
                continue
            value = sent[name]
            if name == "model":
                value = MODEL_LABELS.get(str(value), value)
            elif name == "megapixels":
                value = MEGAPIXEL_LABELS.get(str(value), value)
            elif isinstance(value, bool):
                value = "Yes" if value else "No"
            rows.append((label, str(value)))
        return rows


class Image(models.Model):
    """One image PixelDojo returned, and where we keep our own copy of it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        # PixelDojo sent it from a host we do not fetch from (yet): it waits for an operator to allow the
        # host (``waiting_host``), is re-queued then, and expires like a pending image past retention.
        WAITING_HOST = "waiting_host", "Host not allowed"
        STORED = "stored", "Stored"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Failed"

    # Not final yet: the generation stays "saving" while any of its images is in one of these.
    UNSETTLED_STATUSES = (Status.PENDING, Status.WAITING_HOST)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    # Copies of the generation's author and team, so library pages filter and sort on one table's index.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images")
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="images"
    )
    index = models.PositiveSmallIntegerField()
    provider_url = models.URLField(max_length=2000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    waiting_host = models.CharField(
        max_length=255, blank=True, help_text="The image host it waits for an operator to allow."
    )

    file = models.FileField(max_length=255, blank=True)
    # WebPs for the grids: ``thumbnail`` no larger than imaging.THUMBNAIL_SIDE on its long edge (512 for
    # images stored before the small one existed), ``thumbnail_small`` no larger than SMALL_THUMBNAIL_SIDE
    # (empty for those older images until ``manage.py backfill_thumbnails`` makes both anew).
    thumbnail = models.FileField(max_length=255, blank=True)
    thumbnail_small = models.FileField(max_length=255, blank=True)
    content_type = models.CharField(max_length=64, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    provider_details = models.JSONField(
        default=dict,
        blank=True,
        help_text="What PixelDojo said about this image besides its URL (seed, width, height, …).",
    )

    # The perceptual hash of the stored picture (``generations.similarity``: 64 bits, signed as a bigint) and
    # its four 16-bit bands, each indexed with the team: "similar to this image" looks up band values instead
    # of scanning the team. NULL until stored (or, for images stored before, ``manage.py
    # backfill_image_hashes``).
    phash = models.BigIntegerField(null=True, blank=True)
    phash_band0 = models.PositiveIntegerField(null=True, blank=True)
    phash_band1 = models.PositiveIntegerField(null=True, blank=True)
    phash_band2 = models.PositiveIntegerField(null=True, blank=True)
    phash_band3 = models.PositiveIntegerField(null=True, blank=True)

    # The generation's prompt as a full-text document, written by the database itself (a PostgreSQL trigger,
    # migration 0010, GIN-indexed) so that a team's prompt search is one table's index; NULL on SQLite,
    # which searches the prompt text instead (``library.search``).
    search_document = SearchVectorField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    stored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["generation", "index"]
        constraints = [models.UniqueConstraint(fields=["generation", "index"], name="image_unique_index")]
        indexes = [
            models.Index(fields=["status", "created_at"], name="image_status_created"),
            models.Index(fields=["team", "-created_at", "-id"], name="image_team_newest"),
            models.Index(fields=["user", "-created_at", "-id"], name="image_user_newest"),
            *(models.Index(fields=["team", f"phash_band{i}"], name=f"image_team_band{i}") for i in range(4)),
        ]

    def __str__(self) -> str:
        return f"image {self.index} of generation {self.generation_id}"

    @property
    def status_text(self) -> str:
        """Its state for people, in a word or two (the host named while it waits for one)."""
        if self.status == self.Status.WAITING_HOST:
            return f"Waiting: {self.waiting_host} not allowed yet"
        return self.get_status_display()

    @property
    def file_extension(self) -> str:
        return {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(self.content_type, "img")

    def stored_names(self) -> list[str]:
        """Storage keys of this image's files (original and thumbnails) that are set."""
        return [name for name in (self.file.name, self.thumbnail.name, self.thumbnail_small.name) if name]

    def reported_details(self) -> list[tuple[str, str]]:
        """What PixelDojo said about this image, for people: seed and size first, then anything else."""
        about = dict(self.provider_details or {})
        shown: list[tuple[str, str]] = []
        if "seed" in about:
            shown.append(("seed", str(about.pop("seed"))))
        if "width" in about and "height" in about:
            size = f"{about.pop('width')} × {about.pop('height')}"  # noqa: RUF001 - the multiplication sign
            shown.append(("size", size))
        shown.extend((str(name), provider_text(json.dumps(value))) for name, value in about.items())
        return shown


class ProviderPauseQuerySet(models.QuerySet):
    def in_force(self, *, now: datetime | None = None) -> ProviderPauseQuerySet:
        """Pauses that stop submissions at ``now``: not cleared by an operator, not yet over."""
        return self.filter(cleared_at__isnull=True, paused_until__gt=now or timezone.now())


class ProviderPause(models.Model):
    """New submissions stop while PixelDojo says the quota is exhausted, until a set time or an operator."""

    code = models.CharField(max_length=64, default="quota_exceeded")
    message = models.TextField()
    paused_at = models.DateTimeField(auto_now_add=True)
    paused_until = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = ProviderPauseQuerySet.as_manager()

    class Meta:
        ordering = ["-paused_at"]
        get_latest_by = "paused_at"

    def __str__(self) -> str:
        return f"{self.code} at {self.paused_at:%Y-%m-%d %H:%M}"

    def is_in_force(self, *, now: datetime | None = None) -> bool:
        """This pause matches ``in_force`` (as last loaded)."""
        return self.cleared_at is None and self.paused_until > (now or timezone.now())


class ImageHost(models.Model):
    """A host PixelDojo sent image URLs from that was not allowed: whether admins were told, and whether an
    operator allowed it since (allowed hosts join the settings' allow-list)."""

    host = models.CharField(max_length=255, unique=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    admins_notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When admins were e-mailed about images waiting for it (once)."
    )
    allowed_at = models.DateTimeField(null=True, blank=True)
    allowed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["host"]

    def __str__(self) -> str:
        return self.host


class CatalogueModel(models.Model):
    """An image model PixelDojo lists in its catalogue, as last fetched (``services.catalogue_refresh``)."""

    api_id = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    credit_cost = models.JSONField(help_text="PixelDojo's creditCost as sent (fixed, or by resolution).")
    request_schema = models.JSONField(
        null=True, blank=True, help_text="The model's requestSchema (JSON Schema of the request body)."
    )
    unsupported_reason = models.TextField(
        blank=True, help_text="Why the form does not offer it (empty: offered)."
    )
    left_out = models.JSONField(
        default=list, blank=True, help_text="Optional parameters the form cannot render (never sent)."
    )
    fetched_at = models.DateTimeField(help_text="When PixelDojo last listed it.")
    schema_fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["api_id"]

    def __str__(self) -> str:
        return self.api_id

    @property
    def offered(self) -> bool:
        return not self.unsupported_reason


class CatalogueRefresh(models.Model):
    """One attempt to fetch the catalogue: a failed one leaves the catalogue as it was."""

    at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    message = models.TextField()
    image_models = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-id"]
        get_latest_by = "at"

    def __str__(self) -> str:
        return f"catalogue {'fetched' if self.ok else 'not fetched'} at {self.at:%Y-%m-%d %H:%M}"
