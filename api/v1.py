"""The JSON API, version 1 (``/api/v1/``): another face on the services and selectors the pages use.

Every operation authenticates a token (``Authorization: Bearer pgt_…``), checks its scope, its user's
membership of its team and its rate limit (``TokenAuth``), then acts as that user inside that team (or their
personal space) through the same services and ``teams.permissions`` as the pages. Errors have one shape,
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from uuid import UUID

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Header, NinjaAPI, Query, Schema, Status
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer
from pydantic import Field

from api import selectors
from api.errors import ApiError, error_body
from api.models import ApiToken, Scope
from api.ratelimit import token_wait
from api.schemas import (
    API_OPTIONS,
    BudgetOut,
    CollectionImageOut,
    CollectionOut,
    ComparisonIn,
    ComparisonOut,
    CreditsOut,
    DayOut,
    ErrorOut,
    FavouriteOut,
    GenerationIn,
    GenerationOut,
    ImageDetailOut,
    ImagePage,
    LedgerPage,
    MemberSpendOut,
    ShareOut,
    TagsIn,
    TagsOut,
)
from api.services import (
    api_comparison_submit,
    api_generation_reuse,
    api_generation_submit,
    token_authenticate,
)
from credits import hooks as credit_hooks
from credits import selectors as credit_selectors
from credits.amounts import tidy
from generations import selectors as generation_selectors
from generations import thumbnails
from generations.forms import DEFAULT_MODEL, GenerationForm
from generations.models import Comparison, Generation, Image
from generations.pixeldojo import MODELS
from generations.selectors_queue import queue_place
from generations.services import SubmissionRefused
from generations.views import _serve
from library import selectors as library_selectors
from library import services as library_services
from library.filters import LibraryFilterForm
from library.forms import TagsForm
from teams.models import Membership
from teams.permissions import Action, can, role_in, role_refusal

ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}
MAX_PAGE_SIZE = 100


class TokenAuth(HttpBearer):
    """A usable token with ``scope``, whose user still belongs to its team, within its rate limit."""

    def __init__(self, scope: Scope) -> None:
        super().__init__()
        self.scope = scope

    def __call__(self, request: HttpRequest) -> ApiToken:
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise ApiError(
                401,
                "token_missing",
                "Send an API token: 'Authorization: Bearer <token>' (see /settings/tokens/).",
            )
        return self.authenticate(request, raw.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = token_authenticate(token)
        if self.scope.value not in found.scope_list:
            raise ApiError(
                403, "scope_missing", f"This token lacks the '{self.scope.value}' scope this operation needs."
            )
        if found.team_id is not None and role_in(found.user, found.team_id) is None:
            raise ApiError(
                403,
                "not_a_member",
                "This token's user is no longer a member of its team: it cannot act there any more.",
            )
        wait = token_wait(found.digest[:24])
        if wait:
            raise ApiError(
                429,
                "rate_limited",
                f"Too many requests with this token; try again in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        request.user = found.user  # the pages' rules see the token's user
        return found


api = NinjaAPI(
    title="PixelGallery API",
    version="1",
    description=(
        "Generate with PixelDojo, and read, download and curate a team's library, with a personal token "
        '(create one on `/settings/tokens/`). Every error is `{"error": {"code", "message"}}`.'
    ),
    urls_namespace="api",
)


def _error(request: HttpRequest, status: int, code: str, message: str, **extra: Any) -> HttpResponse:
    body = error_body(code, message)
    body["error"].update(extra)
    return api.create_response(request, body, status=status)


def _invalid_fields(request: HttpRequest, errors: dict) -> HttpResponse:
    """422 naming each parameter's problems (``fields``) and saying them all in ``message``."""
    fields = {name: [str(message) for message in messages] for name, messages in errors.items()}
    said = "; ".join(f"{name}: {' '.join(messages).rstrip('.')}" for name, messages in fields.items())
    return _error(request, 422, "invalid_request", f"{said}.", fields=fields)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = _error(request, exc.status, exc.code, exc.message)
    for name, value in exc.headers.items():
        response[name] = value
    return response


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "token_missing", "Send an API token: 'Authorization: Bearer <token>'.")


@api.exception_handler(NinjaValidationError)
def _invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for problem in exc.errors:
        location = [
            str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "path", "payload")
        ]
        fields.setdefault(".".join(location) or "request", []).append(str(problem.get("msg", "invalid")))
    return _invalid_fields(request, fields)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, "forbidden", str(exc) or "You may not do that.")


@api.exception_handler(ValidationError)
def _refused(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _error(request, 422, "invalid_request", " ".join(exc.messages))


READ, GENERATE, CURATE = TokenAuth(Scope.READ), TokenAuth(Scope.GENERATE), TokenAuth(Scope.CURATE)


def _token(request: HttpRequest) -> ApiToken:
    return request.auth  # type: ignore[attr-defined, return-value]


def _absolute(request: HttpRequest, path: str) -> str:
    return request.build_absolute_uri(path)


# --- Generations ------------------------------------------------------------------------------------------


def _generation_out(request: HttpRequest, generation: Generation) -> dict[str, Any]:
    parents = selectors.readable_image_codes(token=_token(request), ids=[generation.remixed_from_id])
    place = queue_place(generation=generation)
    images = [
        {
            "code": image.code,
            "index": image.index,
            "status": image.status,
            "error_message": image.error_message,
            "url": _absolute(request, reverse("api:image_get", args=[image.code])),
        }
        for image in generation.images.all()
    ]
    return {
        **{
            name: getattr(generation, name)
            for name in (
                "code",
                "status",
                "prompt",
                "model",
                "aspect_ratio",
                "num_outputs",
                "seed",
                "lora_weights",
                "lora_scale",
                "megapixels",
                "go_fast",
                "error_code",
                "error_message",
                "created_at",
                "finished_at",
            )
        },
        "price": tidy(generation.price) if generation.price is not None else None,
        "active": generation.is_active,
        "queue_position": place.position if place else None,
        "starts_in_seconds": None if place is None or place.starts_in is None else round(place.starts_in, 1),
        "credits": credit_selectors.credits_for_generation(generation_id=generation.id),
        "team": generation.team.code if generation.team_id else None,
        "remixed_from": parents.get(generation.remixed_from_id),
        "status_url": _absolute(request, reverse("api:generation_get", args=[generation.code])),
        "images": images,
    }


def _form_data(request: HttpRequest, payload: GenerationIn) -> dict[str, Any]:
    """The body as the prompt form's data; unset parameters take the form's defaults.

    A parameter the form has beyond ``GenerationIn``'s (one it gained later, e.g. a new model's) is passed
    on to it as sent, so the form decides; anything the form does not know is refused (422).
    """
    data = {"model": DEFAULT_MODEL, "aspect_ratio": "16:9", "num_outputs": 1, "megapixels": "1"}
    data.update(payload.model_dump(exclude_none=True, exclude=set(API_OPTIONS)))
    body = json.loads(request.body or b"{}")
    extra = {name: value for name, value in body.items() if name not in GenerationIn.model_fields}
    problems = {
        name: ["Unknown parameter."]
        if name not in GenerationForm.base_fields
        else ["Expected a single value."]
        for name, value in extra.items()
        if name not in GenerationForm.base_fields or isinstance(value, (dict, list))
    }
    problems.update(
        {name: ["To compare models, POST /api/v1/comparisons."] for name in COMPARE_FIELDS if name in extra}
    )
    if problems:
        raise FormInvalid(problems)
    data.update({name: value for name, value in extra.items() if value is not None})
    if data.get("go_fast") is False:
        data.pop("go_fast")
    return data


COMPARE_FIELDS = ("compare", "compare_models")  # the form's, for POST /comparisons only


class FormInvalid(Exception):
    """Parameters refused before the form saw them, by name (answered as 422)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__(fields)
        self.fields = fields


@api.post(
    "/generations",
    auth=GENERATE,
    response={200: GenerationOut, 202: GenerationOut, 409: ErrorOut, **ERRORS},
    url_name="generation_create",
    summary="Submit a prompt",
)
def generation_create(
    request: HttpRequest,
    payload: GenerationIn,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        max_length=255,
        description="A retried POST with the same key returns the first generation (nothing is paid twice).",
    ),
):
    """Queue a generation in the token's team (or personal space), exactly as the prompt form does: same
    validation, role, budgets and pause. Answers 202 with the generation; poll its `status_url`.

    With `reuse: true`, a finished generation of the token's space that asked for exactly this (with a
    fixed seed) and whose images are all stored answers instead: 200, `reused: true`, nothing charged."""
    token = _token(request)
    refusal = role_refusal(token.user, Action.GENERATE, team=token.team)
    if refusal is not None:
        raise ApiError(403, "forbidden", refusal)
    try:
        form = GenerationForm(_form_data(request, payload))
    except FormInvalid as invalid:
        return _invalid_fields(request, invalid.fields)
    if not form.is_valid():
        return _invalid_fields(request, form.errors)
    if form.catalogue_choice is not None:  # made as a PixelDojo job, with parameters only the form offers
        message = f"{form.catalogue_choice.name} is offered on the prompt form; the API submits " + (
            "the POST /flux models: " + ", ".join(MODELS) + "."
        )
        return _invalid_fields(request, {"model": [message]})
    parent = None
    if payload.remix_of is not None:
        try:
            parent = selectors.image_for_token(token=token, code=payload.remix_of)
        except Http404:
            message = "No image with this code in this token's library: it cannot be remixed here."
            return _invalid_fields(request, {"remix_of": [message]})
    if payload.reuse:
        found = api_generation_reuse(token=token, fingerprint=form.fingerprint(), credits=form.price().total)
        if found is not None:
            generation = selectors.generation_for_token(token=token, code=found.code)
            return Status(200, {**_generation_out(request, generation), "reused": True})
    try:
        generation, _ = api_generation_submit(
            token=token,
            params=form.to_request(),
            idempotency_key=idempotency_key or None,
            remix_of=parent,
        )
    except SubmissionRefused as refused:
        raise ApiError(409, "submission_refused", str(refused)) from refused
    generation = selectors.generation_for_token(token=token, code=generation.code)
    return Status(202, _generation_out(request, generation))


@api.get("/generations/{code}", auth=READ, response={200: GenerationOut, **ERRORS}, url_name="generation_get")
def generation_get(request: HttpRequest, code: UUID):
    """A generation's status, each image's status, its error message and the credits charged."""
    return _generation_out(request, selectors.generation_for_token(token=_token(request), code=code))


# --- Comparisons ------------------------------------------------------------------------------------------


def _comparison_out(request: HttpRequest, comparison: Comparison) -> dict[str, Any]:
    generations = list(generation_selectors.comparison_generations(comparison=comparison))
    return {
        "code": comparison.code,
        "prompt": comparison.prompt,
        "team": comparison.team.code if comparison.team_id else None,
        "created_at": comparison.created_at,
        "active": any(generation.is_active for generation in generations),
        "price": tidy(sum((generation.price or 0 for generation in generations), 0)),
        "status_url": _absolute(request, reverse("api:comparison_get", args=[comparison.code])),
        "page_url": _absolute(request, reverse("comparison_detail", args=[comparison.code])),
        "generations": [_generation_out(request, generation) for generation in generations],
    }


@api.post(
    "/comparisons",
    auth=GENERATE,
    response={202: ComparisonOut, 409: ErrorOut, **ERRORS},
    url_name="comparison_create",
    summary="Compare models",
)
def comparison_create(
    request: HttpRequest,
    payload: ComparisonIn,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        max_length=255,
        description="A retried POST with the same key returns the first comparison (nothing is paid twice).",
    ),
):
    """Send one prompt to 2 to 4 models at once, as the prompt form's *Compare models* does: each model
    priced at its own cost, the budget checked once for the total (all or nothing). Answers 202 with the
    comparison and one generation per model; poll its `status_url`."""
    token = _token(request)
    refusal = role_refusal(token.user, Action.GENERATE, team=token.team)
    if refusal is not None:
        raise ApiError(403, "forbidden", refusal)
    data: dict[str, Any] = {"aspect_ratio": "16:9", "num_outputs": 1, "megapixels": "1"}
    data.update(payload.model_dump(exclude_none=True, exclude={"models"}))
    if data.get("go_fast") is False:
        data.pop("go_fast")
    form = GenerationForm({**data, "compare": True, "compare_models": payload.models})
    if not form.is_valid():
        errors = {("models" if name == "compare_models" else name): e for name, e in form.errors.items()}
        return _invalid_fields(request, errors)
    try:
        comparison, _ = api_comparison_submit(
            token=token,
            prompt=form.cleaned_data["prompt"],
            models=form.cleaned_data["compare_models"],
            params=form.compare_params(),
            idempotency_key=idempotency_key or None,
        )
    except SubmissionRefused as refused:
        raise ApiError(409, "submission_refused", str(refused)) from refused
    comparison = selectors.comparison_for_token(token=token, code=comparison.code)
    return Status(202, _comparison_out(request, comparison))


@api.get("/comparisons/{code}", auth=READ, response={200: ComparisonOut, **ERRORS}, url_name="comparison_get")
def comparison_get(request: HttpRequest, code: UUID):
    """A comparison with each model's generation: status, images, error message and credits charged."""
    return _comparison_out(request, selectors.comparison_for_token(token=_token(request), code=code))


# --- Images -----------------------------------------------------------------------------------------------


def _image_out(request: HttpRequest, image: Image, parents: dict[int, UUID]) -> dict[str, Any]:
    """One image as the API answers it; ``parents``: the codes of remixed images the token can read."""
    generation = image.generation
    stored = image.status == Image.Status.STORED
    thumbnail = image.thumbnail.name if stored else ""
    return {
        "code": image.code,
        "generation": generation.code,
        "prompt": generation.prompt,
        "model": generation.model,
        "aspect_ratio": generation.aspect_ratio,
        "seed": generation.seed,
        "status": image.status,
        "width": image.width,
        "height": image.height,
        "content_type": image.content_type,
        "size_bytes": image.size_bytes,
        "author": image.user.get_username(),
        "team": image.team.code if image.team_id else None,
        "remixed_from": parents.get(generation.remixed_from_id),
        "favourite": bool(getattr(image, "is_favourite", False)),
        "created_at": image.created_at,
        "stored_at": image.stored_at,
        "url": _absolute(request, reverse("api:image_get", args=[image.code])),
        "original_url": _absolute(request, reverse("api:image_original", args=[image.code]))
        if stored
        else None,
        "thumbnail_url": _absolute(request, thumbnails.thumbnail_url(thumbnail)) if thumbnail else None,
    }


class ImageQuery(Schema):
    """The library page's filters (same names and meaning), a cursor and a page size."""

    q: str | None = Field(None, max_length=200, description="Search prompts (full text).")
    model: str | None = None
    author: str | None = Field(None, max_length=150, description="A username.")
    date_from: date | None = None
    date_to: date | None = None
    aspect_ratio: str | None = None
    status: str | None = None
    collection: str | None = Field(None, max_length=36, description="A collection's code.")
    tag: str | None = Field(None, max_length=40)
    family: str | None = Field(
        None, max_length=36, description="An image's code: only its remix family (root and descendants)."
    )
    favourite: bool | None = None
    sort: str | None = Field(None, description="newest (default), oldest or favourites.")
    cursor: str | None = Field(None, max_length=200, description="From the previous page's `next`.")
    limit: int = Field(48, ge=1, le=MAX_PAGE_SIZE)


@api.get("/images", auth=READ, response={200: ImagePage, **ERRORS}, url_name="image_list")
def image_list(request: HttpRequest, query: Query[ImageQuery]):
    """The token's library (its team's, or personal), newest first, filtered like the library page, in
    pages of `limit` with a `next` link."""
    token = _token(request)
    values = query.model_dump(exclude_none=True, exclude={"cursor", "limit"})
    form = LibraryFilterForm(
        {name: str(value) if not isinstance(value, bool) else value for name, value in values.items()}
    )
    if not form.is_valid():
        return _invalid_fields(request, form.errors)
    page = library_selectors.library_page(
        user=token.user,
        team=token.team,
        mine=False,
        filters=form.to_filters(),
        cursor=query.cursor or "",
        page_size=query.limit,
    )
    next_url = None
    if page.next_cursor:
        params = request.GET.copy()
        params["cursor"] = page.next_cursor
        next_url = _absolute(request, f"{request.path}?{params.urlencode()}")
    parents = selectors.readable_image_codes(
        token=token, ids=[image.generation.remixed_from_id for image in page.images]
    )
    return {"data": [_image_out(request, image, parents) for image in page.images], "next": next_url}


@api.get("/images/{code}", auth=READ, response={200: ImageDetailOut, **ERRORS}, url_name="image_get")
def image_get(request: HttpRequest, code: UUID):
    """One image with its parameters, tags and the collections holding it."""
    token = _token(request)
    image = selectors.image_for_token(token=token, code=code)
    parents = selectors.readable_image_codes(token=token, ids=[image.generation.remixed_from_id])
    return {
        **_image_out(request, image, parents),
        "tags": selectors.image_tags(image=image),
        "collections": selectors.image_collections(token=token, image=image),
    }


ORIGINAL_RESPONSES = {
    "200": {
        "description": "The original image's bytes (local storage).",
        "content": {
            kind: {"schema": {"type": "string", "format": "binary"}}
            for kind in ("image/png", "image/jpeg", "image/webp")
        },
    },
    "302": {"description": "A short-lived signed URL of the original (S3 storage)."},
}


@api.get(
    "/images/{code}/original",
    auth=READ,
    response={**ERRORS},
    url_name="image_original",
    openapi_extra={"responses": ORIGINAL_RESPONSES},
)
def image_original(request: HttpRequest, code: UUID, download: bool = False):
    """The original file (as an attachment with `download=true`), or a redirect to a signed URL on S3."""
    image = selectors.image_for_token(token=_token(request), code=code)
    if image.status != Image.Status.STORED:
        raise Http404("This image is not stored.")
    filename = f"pixelgallery-{image.generation.code}-{image.index + 1}.{image.file_extension}"
    return _serve(image.file.name, content_type=image.content_type, filename=filename, download=download)


@api.put(
    "/images/{code}/favourite", auth=CURATE, response={200: FavouriteOut, **ERRORS}, url_name="favourite_add"
)
def favourite_add(request: HttpRequest, code: UUID):
    """Mark the image as one of your favourites (again: no change)."""
    token = _token(request)
    image = selectors.image_for_token(token=token, code=code)
    return {"favourite": library_services.favourite_set(user=token.user, image=image, favourite=True)}


@api.delete(
    "/images/{code}/favourite",
    auth=CURATE,
    response={200: FavouriteOut, **ERRORS},
    url_name="favourite_remove",
)
def favourite_remove(request: HttpRequest, code: UUID):
    """Unmark the image as a favourite (not one: no change)."""
    token = _token(request)
    image = selectors.image_for_token(token=token, code=code)
    return {"favourite": library_services.favourite_set(user=token.user, image=image, favourite=False)}


@api.post("/images/{code}/tags", auth=CURATE, response={200: TagsOut, **ERRORS}, url_name="tags_add")
def tags_add(request: HttpRequest, code: UUID, payload: TagsIn):
    """Add tags to the image (members and up in a team); answers all of its tags."""
    token = _token(request)
    image = selectors.image_for_token(token=token, code=code)
    # The page's tag form checks the image's tags after the change (names, lengths, how many).
    form = TagsForm({"tags": ", ".join(selectors.image_tags(image=image) + payload.tags)})
    if not form.is_valid():
        return _invalid_fields(request, form.errors)
    library_services.tags_set(user=token.user, image=image, names=form.cleaned_data["tags"])
    return {"tags": selectors.image_tags(image=image)}


@api.delete(
    "/images/{code}/tags/{tag}", auth=CURATE, response={200: TagsOut, **ERRORS}, url_name="tag_remove"
)
def tag_remove(request: HttpRequest, code: UUID, tag: str):
    """Remove one tag from the image; answers the tags left."""
    token = _token(request)
    image = selectors.image_for_token(token=token, code=code)
    name = " ".join(tag.split()).lower()
    current = selectors.image_tags(image=image)
    library_services.tags_set(user=token.user, image=image, names=[t for t in current if t != name])
    return {"tags": selectors.image_tags(image=image)}


# --- Collections ------------------------------------------------------------------------------------------


def _collection_out(collection) -> dict[str, Any]:
    return {
        "code": collection.code,
        "name": collection.name,
        "team": collection.team.code if collection.team_id else None,
        "cover": collection.cover.code if collection.cover_id else None,
    }


@api.get("/collections", auth=READ, response={200: list[CollectionOut], **ERRORS}, url_name="collection_list")
def collection_list(request: HttpRequest):
    """The collections of the token's space, by name."""
    return [_collection_out(board) for board in selectors.collections_for_token(token=_token(request))]


@api.put(
    "/collections/{code}/images/{image}",
    auth=CURATE,
    response={200: CollectionImageOut, **ERRORS},
    url_name="collection_image_add",
)
def collection_image_add(request: HttpRequest, code: UUID, image: UUID):
    """Add an image of the same space to the collection (members and up in a team)."""
    token = _token(request)
    collection = selectors.collection_for_token(token=token, code=code)
    found = selectors.image_for_token(token=token, code=image)
    added = library_services.collection_add(user=token.user, collection=collection, images=[found])
    return {"collection": collection.code, "image": found.code, "added": bool(added)}


@api.delete(
    "/collections/{code}/images/{image}",
    auth=CURATE,
    response={200: CollectionImageOut, **ERRORS},
    url_name="collection_image_remove",
)
def collection_image_remove(request: HttpRequest, code: UUID, image: UUID):
    """Remove an image from the collection (the image itself is kept)."""
    token = _token(request)
    collection = selectors.collection_for_token(token=token, code=code)
    found = selectors.image_for_token(token=token, code=image)
    held = selectors.collection_holds(collection=collection, image=found)
    library_services.collection_remove(user=token.user, collection=collection, image=found)
    return {"collection": collection.code, "image": found.code, "added": held}


# --- Credits ----------------------------------------------------------------------------------------------


def _provider() -> dict[str, Any]:
    quota = credit_hooks.quota_state()
    balance = credit_selectors.provider_balance_latest()
    return {
        "paused": quota.active,
        "paused_until": quota.pause.paused_until if quota.active and quota.pause else None,
        "balance": balance.credits if balance else None,
        "balance_reported_at": balance.reported_at if balance else None,
    }


def _shares(rows) -> list[dict[str, Any]]:
    return [ShareOut(label=row.label, credits=row.credits, percent=row.percent).dict() for row in rows]


def _daily(daily: dict) -> list[dict[str, Any]]:
    return [DayOut(day=day, credits=value).dict() for day, value in sorted(daily.items())]


def _budget(status) -> dict[str, Any]:
    return BudgetOut(
        username=status.username,
        limit=status.limit,
        used=status.used,
        reserved=status.reserved,
        left=status.left,
        percent=status.percent,
        state=status.state,
    ).dict()


class CreditsQuery(Schema):
    days: int = Field(30, description="The window of the daily series: 30 or 90.")


@api.get("/credits", auth=READ, response={200: CreditsOut, **ERRORS}, url_name="credits_get")
def credits_get(request: HttpRequest, query: Query[CreditsQuery]):
    """Spend by period, model and member, budgets and PixelDojo's balance: your own with a personal token;
    the team's with a team token of an admin or owner (as on the team credits page)."""
    token = _token(request)
    periods = credit_selectors.Periods.ending(
        timezone.localdate(), days=credit_selectors.window_days(query.days)
    )
    if token.team is None:
        spend = credit_selectors.user_spend(user_id=token.user_id, periods=periods)
        return {
            "space": "personal",
            "team": None,
            "days": periods.days,
            "today": spend.today,
            "week": spend.week,
            "month": spend.month,
            "by_model": _shares(spend.by_model),
            "by_team": _shares(spend.by_team),
            "daily": _daily(spend.daily),
            "provider": _provider(),
        }
    if not can(token.user, Action.MANAGE_MEMBERS, team_id=token.team_id):
        raise ApiError(403, "forbidden", "Only the team's admins and owners see its credits.")
    memberships = list(Membership.objects.filter(team=token.team).select_related("user"))
    dashboard = credit_selectors.team_dashboard(
        team=token.team,
        periods=periods,
        reserved=credit_hooks.reserved_by_user(team_id=token.team_id),
        memberships=memberships,
    )
    return {
        "space": "team",
        "team": token.team.code,
        "days": periods.days,
        "today": None,
        "week": None,
        "month": dashboard.month_total,
        "by_model": _shares(dashboard.by_model),
        "members": [
            MemberSpendOut(username=m.username, role=m.role, month=m.month, reserved=m.reserved).dict()
            for m in dashboard.members
        ],
        "team_budget": _budget(dashboard.team_budget) if dashboard.team_budget else None,
        "member_budgets": [_budget(status) for status in dashboard.member_budgets],
        "allowance_remaining": dashboard.allowance.remaining if dashboard.allowance.recorded else None,
        "reserved": dashboard.reserved_total,
        "daily": _daily(dashboard.daily),
        "provider": _provider(),
    }


class LedgerQuery(Schema):
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(100, ge=1, le=500)


@api.get("/ledger", auth=READ, response={200: LedgerPage, **ERRORS}, url_name="ledger_list")
def ledger_list(request: HttpRequest, query: Query[LedgerQuery]):
    """The credit ledger, newest first: the team's (admins and owners), or your personal work's."""
    token = _token(request)
    if token.team is not None and not can(token.user, Action.MANAGE_MEMBERS, team_id=token.team_id):
        raise ApiError(403, "forbidden", "Only the team's admins and owners see its ledger.")
    after = selectors.decode_position(query.cursor) if query.cursor else None
    rows = credit_selectors.ledger_page(
        team_id=token.team_id, user_id=token.user_id, after=after, limit=query.limit + 1
    )
    next_url = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        params = request.GET.copy()
        params["cursor"] = selectors.encode_position(rows[-1]["created_at"], rows[-1]["id"])
        next_url = _absolute(request, f"{request.path}?{params.urlencode()}")
    data = [
        {
            "created_at": row["created_at"],
            "kind": row["kind"],
            "user": row["user__username"],
            "model": row["model"],
            "credits": row["credits"],
            "generation": row["generation__code"],
            "image": row["image__code"],
            "note": row["note"],
        }
        for row in rows
    ]
    return {"data": data, "next": next_url}
