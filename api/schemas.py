"""What the API reads and answers, as typed schemas (the OpenAPI document is generated from them)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field

from generations.forms import MAX_SEED
from generations.pixeldojo import ASPECT_RATIOS, MAX_OUTPUTS, MEGAPIXELS, MODELS


class ErrorDetail(Schema):
    code: str = Field(description="Stable, machine-readable reason, e.g. `token_expired`, `not_found`.")
    message: str = Field(description="What happened and what to do, for a person.")
    fields: dict[str, list[str]] | None = Field(None, description="Per-parameter problems (422 only).")


class ErrorOut(Schema):
    error: ErrorDetail


# Fields of ``GenerationIn`` that are options of the API, not parameters of the prompt form.
API_OPTIONS = frozenset({"reuse"})


class GenerationIn(Schema):
    """PixelDojo's own parameter names, validated exactly as the prompt form validates them; any other
    parameter of the prompt form is accepted too (and anything else refused with 422)."""

    model_config = ConfigDict(extra="allow")

    # The form validates; the document states the same bounds (enums, ranges) so that clients and
    # generated tests can tell a valid request before sending it.
    prompt: str = Field(
        description="Describe the image you want (at most 2000 characters).",
        json_schema_extra={"minLength": 1, "maxLength": 2000, "pattern": r"\S"},
    )
    model: str | None = Field(
        None,
        description="A PixelDojo model (default `flux-pro`).",
        json_schema_extra={"enum": [*MODELS, None]},
    )
    aspect_ratio: str | None = Field(
        None,
        description="For example `1:1`, `16:9` (default).",
        json_schema_extra={"enum": [*ASPECT_RATIOS, None]},
    )
    num_outputs: int | None = Field(
        None,
        description="Number of images, 1 to 4 (default 1).",
        json_schema_extra={"minimum": 1, "maximum": MAX_OUTPUTS},
    )
    seed: int | None = Field(
        None,
        description="Same seed and prompt give the same image; -1 or none: random.",
        json_schema_extra={"minimum": -1, "maximum": MAX_SEED},
    )
    lora_weights: str | None = Field(
        None, description="URL of Flux LoRA weights (flux-dev-single-lora only)."
    )
    lora_scale: float | None = Field(
        None,
        description="LoRA scale, -1 to 3 (flux-dev-single-lora only).",
        json_schema_extra={"minimum": -1, "maximum": 3},
    )
    megapixels: str | None = Field(
        None, description="`1` or `0.25`.", json_schema_extra={"enum": [*MEGAPIXELS, None]}
    )
    go_fast: bool | None = Field(None, description="Faster, slightly lower quality.")
    remix_of: UUID | None = Field(
        None,
        description="The code of the image this remixes (one this token can read; else 422): recorded as "
        "the generation's `remixed_from`, and the image page and `family` filter show the family.",
    )
    reuse: bool = Field(
        False,
        description="When images you already have match this request exactly (same prompt, ignoring case "
        "and spacing, model, aspect ratio, megapixels, LoRA and scale, go_fast and a fixed seed, in the "
        "token's space, all stored), answer 200 with that generation (`reused`: true) and charge nothing.",
    )


class GenerationImageOut(Schema):
    code: UUID
    index: int
    status: str = Field(description="pending, stored, expired or failed.")
    error_message: str
    url: str = Field(description="The image in the API.")


class GenerationOut(Schema):
    code: UUID
    status: str = Field(description="queued, running, saving, done or failed.")
    active: bool = Field(description="Still being worked on: poll `status_url` until false.")
    queue_position: int | None = Field(
        description="While queued: its place in the fair queue (1: next; members are served round-robin)."
    )
    starts_in_seconds: float | None = Field(
        description="While queued: seconds until its PixelDojo call should start (the rate limiter's window)."
    )
    prompt: str
    model: str
    aspect_ratio: str
    num_outputs: int
    seed: int | None
    lora_weights: str
    lora_scale: float | None
    megapixels: str
    go_fast: bool | None
    error_code: str
    error_message: str
    credits: Decimal = Field(description="Credits charged so far for its images.")
    price: Decimal | None = Field(
        description="Credits reserved at submission (images times the model's cost)."
    )
    team: UUID | None
    remixed_from: UUID | None = Field(
        description="The image it remixes; null when it remixes none, or one this token cannot read."
    )
    created_at: datetime
    finished_at: datetime | None
    status_url: str
    images: list[GenerationImageOut]
    reused: bool = Field(
        False, description="An existing generation answered a request with `reuse`: nothing was charged."
    )


class ComparisonIn(Schema):
    """One prompt for 2 to 4 distinct models, with the parameters common to them (PixelDojo's names, as
    `POST /generations` takes them; LoRA ones go to flux-dev-single-lora only, a catalogue model gets the
    aspect ratio, number of images and seed when its schema has them)."""

    model_config = ConfigDict(extra="forbid")

    # The same bounds as ``GenerationIn``'s (the form validates both).
    prompt: str = Field(
        description="Describe the image you want (at most 2000 characters).",
        json_schema_extra={"minLength": 1, "maxLength": 2000, "pattern": r"\S"},
    )
    models: list[str] = Field(
        min_length=2,
        max_length=4,
        description="2 to 4 distinct models: the seed's four (`" + "`, `".join(MODELS) + "`), or catalogue "
        "models that need nothing but a prompt.",
        json_schema_extra={"uniqueItems": True},
    )
    aspect_ratio: str | None = Field(
        None,
        description="For example `1:1`, `16:9` (default).",
        json_schema_extra={"enum": [*ASPECT_RATIOS, None]},
    )
    num_outputs: int | None = Field(
        None,
        description="Images per model, 1 to 4 (default 1; one for a catalogue model that takes no count).",
        json_schema_extra={"minimum": 1, "maximum": MAX_OUTPUTS},
    )
    seed: int | None = Field(
        None,
        description="The same seed for every model; -1 or none: random.",
        json_schema_extra={"minimum": -1, "maximum": MAX_SEED},
    )
    lora_weights: str | None = Field(
        None, description="URL of Flux LoRA weights (needed when flux-dev-single-lora is compared)."
    )
    lora_scale: float | None = Field(
        None,
        description="LoRA scale, -1 to 3 (flux-dev-single-lora only).",
        json_schema_extra={"minimum": -1, "maximum": 3},
    )
    megapixels: str | None = Field(
        None,
        description="`1` or `0.25` (the seed's models).",
        json_schema_extra={"enum": [*MEGAPIXELS, None]},
    )
    go_fast: bool | None = Field(None, description="Faster, slightly lower quality (the seed's models).")


class ComparisonOut(Schema):
    code: UUID
    prompt: str
    team: UUID | None
    created_at: datetime
    active: bool = Field(description="Some model is still being worked on: poll `status_url` until false.")
    price: Decimal = Field(description="Credits reserved at submission for all its models together.")
    status_url: str
    page_url: str = Field(description="The side-by-side page, for the team's members (a browser session).")
    generations: list[GenerationOut] = Field(description="One per model, in the order asked for.")


class ImageOut(Schema):
    code: UUID
    generation: UUID
    prompt: str
    model: str
    aspect_ratio: str
    seed: int | None
    status: str
    width: int | None
    height: int | None
    content_type: str
    size_bytes: int | None
    author: str
    team: UUID | None
    remixed_from: UUID | None = Field(
        description="The image its generation remixes; null when none, or one this token cannot read."
    )
    favourite: bool
    created_at: datetime
    stored_at: datetime | None
    url: str
    original_url: str | None = Field(description="The original's bytes (or a signed redirect), once stored.")
    thumbnail_url: str | None = Field(description="A signed WebP thumbnail URL, valid for a day or two.")


class ImageDetailOut(ImageOut):
    tags: list[str]
    collections: list[UUID]


class ImagePage(Schema):
    data: list[ImageOut]
    next: str | None = Field(description="The next page's URL; null on the last page.")


class FavouriteOut(Schema):
    favourite: bool


class TagsIn(Schema):
    tags: list[str] = Field(description="Tags to add (lower-cased, at most 40 characters each).")


class TagsOut(Schema):
    tags: list[str]


class CollectionOut(Schema):
    code: UUID
    name: str
    team: UUID | None
    cover: UUID | None


class CollectionImageOut(Schema):
    collection: UUID
    image: UUID
    added: bool = Field(description="False when it was already there (PUT) or not there (DELETE).")


class ShareOut(Schema):
    label: str
    credits: Decimal
    percent: float


class DayOut(Schema):
    day: date
    credits: Decimal


class BudgetOut(Schema):
    username: str = Field(description="Empty for the team's budget.")
    limit: Decimal
    used: Decimal
    reserved: Decimal
    left: Decimal
    percent: int
    state: Literal["ok", "warn", "over"]


class MemberSpendOut(Schema):
    username: str
    role: str | None
    month: Decimal
    reserved: Decimal


class ProviderOut(Schema):
    paused: bool
    paused_until: datetime | None
    balance: Decimal | None = Field(description="PixelDojo's last reported balance, if it ever sent one.")
    balance_reported_at: datetime | None


class CreditsOut(Schema):
    space: Literal["personal", "team"]
    team: UUID | None
    days: int
    today: Decimal | None = Field(description="Personal: your spend today (all spaces).")
    week: Decimal | None
    month: Decimal
    by_model: list[ShareOut]
    by_team: list[ShareOut] | None = None
    members: list[MemberSpendOut] | None = None
    team_budget: BudgetOut | None = None
    member_budgets: list[BudgetOut] | None = None
    allowance_remaining: Decimal | None = None
    reserved: Decimal | None = None
    daily: list[DayOut]
    provider: ProviderOut


class LedgerEntryOut(Schema):
    created_at: datetime
    kind: str = Field(description="charge, refund or top_up.")
    user: str
    model: str
    credits: Decimal
    generation: UUID | None
    image: UUID | None
    note: str


class LedgerPage(Schema):
    data: list[LedgerEntryOut]
    next: str | None
