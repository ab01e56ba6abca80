"""Pages: the gallery with its prompt form, generation detail, live status, image files."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.utils.formats import localize
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from credits.amounts import credits_label
from credits.selectors import header_credits_spent
from generations import selectors, services, thumbnails
from generations.forms import GenerationForm, Price
from generations.models import Generation, Image
from generations.selectors_queue import queue_place, queue_places
from generations.serving import serve_stored_file as _serve
from teams.active import active_team
from teams.permissions import Action, role_refusal

GALLERY_PAGE_SIZE = 24


@login_required
@require_http_methods(["GET", "POST"])
def gallery(request: HttpRequest) -> HttpResponse:
    """The prompt form and recent generations; the form posts back here, so an error keeps this page."""
    return _generate_page(request)


@login_required
@require_http_methods(["GET", "POST"])
def generate(request: HttpRequest) -> HttpResponse:
    """The same page, where remix links (``?remix=<image>&seed=same|new``) prefill the form."""
    return _generate_page(request)


def _generate_page(request: HttpRequest) -> HttpResponse:
    """The gallery page at this address: a valid submission is queued (back to the gallery); a refused or
    invalid one comes back here with its errors and values. Those who may not generate in the active team
    are told why instead of being offered the form. A remix records its parent image when the user may see
    it (``remix_of``); otherwise it is an ordinary submission. With *Compare models* ticked the prompt goes
    to each chosen model at once (``comparison_submit``), then to the comparison's page.

    A submission asking for images the user already has (same reuse key, in the space it goes to) is not
    queued: the page comes back with its values and an offer, to open those (``reuse=<code>``: recorded as
    credits saved, then their page) or to generate again (``confirm_new=1``: queued as usual).
    """
    team = active_team(request)
    initial = _remix_initial(request) if request.method == "GET" else None
    form = GenerationForm(request.POST or None, initial=initial)
    refusal = role_refusal(request.user, Action.GENERATE, team=team)
    offer = None
    if request.method == "POST" and form.is_valid() and form.comparing:
        try:
            comparison = services.comparison_submit(
                user=request.user,
                team=team,
                prompt=form.cleaned_data["prompt"],
                models=form.cleaned_data["compare_models"],
                params=form.compare_params(),
                menu=form.menu,
            )
        except services.SubmissionRefused as refused:
            form.add_error(None, str(refused))
        else:
            queued = f"Queued: “{comparison.prompt[:60]}” for each model. Columns fill in as they arrive."
            messages.success(request, queued)
            return redirect("comparison_detail", code=comparison.code)
    elif request.method == "POST" and form.is_valid():
        if refusal is None and request.POST.get("confirm_new") != "1":
            offer = _reuse_offer(request, form, team)
        if offer is not None and request.POST.get("reuse") == str(offer.generation.code):
            services.generation_reuse(
                user=request.user, team=team, generation=offer.generation, credits=offer.price.total
            )
            messages.success(
                request,
                f"Opened the images you already had; nothing was charged "
                f"({credits_label(offer.price.total)} saved).",
            )
            return redirect("generation_detail", code=offer.generation.code)
        if offer is None:
            try:
                generation = _submit(request, form, team)
            except services.SubmissionRefused as refused:
                form.add_error(None, str(refused))
            else:
                messages.success(
                    request, f"Queued: “{generation.prompt[:60]}”. Images appear below as they arrive."
                )
                return redirect("gallery")
    page = Paginator(selectors.generations_for_user(user=request.user), GALLERY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    page.object_list = list(page.object_list)
    places = queue_places(generations=page.object_list)  # no query unless a card is queued
    for generation in page.object_list:
        generation.queue_place = places.get(generation.id)
    context = {
        "page": page,
        "form": form,
        "team": team,
        "generate_refusal": refusal,
        "reuse_offer": offer,
    }
    return render(request, "generations/gallery.html", context)


@dataclass(frozen=True)
class ReuseOffer:
    """Images the user already has for this submission, and what generating them again would cost."""

    generation: Generation  # with ``first_image_code``
    price: Price

    @property
    def price_text(self) -> str:
        """``6 credits``: what generating again costs."""
        return credits_label(self.price.total)


def _reuse_offer(request: HttpRequest, form: GenerationForm, team) -> ReuseOffer | None:
    generation = selectors.reusable_generation(user=request.user, team=team, fingerprint=form.fingerprint())
    return ReuseOffer(generation=generation, price=form.price()) if generation is not None else None


def _submit(request: HttpRequest, form: GenerationForm, team) -> Generation:
    """Queue the form's request (a catalogue model's as a job), recording the remixed image when the user
    may see it."""
    parent = selectors.remix_parent_for_user(user=request.user, code=form.cleaned_data["remix_of"])
    if (choice := form.catalogue_choice) is not None:
        return services.catalogue_generation_submit(
            user=request.user,
            model=choice.api_id,
            payload=form.catalogue_payload(),
            team=team,
            remix_of=parent,
        )
    return services.generation_submit(user=request.user, params=form.to_request(), team=team, remix_of=parent)


def _remix_initial(request: HttpRequest) -> dict:
    """Form values of the image being remixed (``?remix=<image>&seed=same|new``), if the user may see it."""
    code = request.GET.get("remix")
    if not code:
        return {}
    try:
        image = selectors.get_image_for_user(user=request.user, code=uuid.UUID(code))
    except ValueError:
        raise Http404("No such image.") from None
    initial = GenerationForm.initial_from(image.generation.to_request())
    if request.GET.get("seed") == "new":
        initial.pop("seed", None)
    initial["remix_of"] = str(image.code)
    return initial


@login_required
@require_GET
def generation_detail(request: HttpRequest, code) -> HttpResponse:
    generation = selectors.get_generation_for_user(user=request.user, code=code)
    return render(request, "generations/detail.html", {"generation": generation})


@login_required
@require_GET
def comparison_detail(request: HttpRequest, code) -> HttpResponse:
    """One prompt's models side by side, each column filling in live (its card polls its status)."""
    comparison = selectors.get_comparison_for_user(user=request.user, code=code)
    columns = selectors.comparison_columns(comparison=comparison)
    total = sum(column.cost for column in columns)
    context = {"comparison": comparison, "columns": columns, "total": total}
    return render(request, "generations/comparison.html", context)


@login_required
@require_GET
def generation_status(request: HttpRequest, code) -> JsonResponse:
    """Live status for polling: state, message, the re-rendered gallery card and the header's credits spent.

    A queued generation's ``position`` in the fair queue (1: next) and ``eta``, the seconds until its slot
    should come (both null once it is no longer queued; ``eta`` null when the limiter cannot be read), and
    ``queue_text``, the card's words for them.

    ``credits_spent_text`` is the header badge's text, formatted as ``base.html`` writes it, so the page can
    keep the badge in step as images finish without a reload.
    """
    generation = selectors.get_generation_for_user(user=request.user, code=code)
    place = generation.queue_place = queue_place(generation=generation)
    card = render_to_string("generations/_card.html", {"generation": generation}, request=request)
    spent = header_credits_spent(user_id=request.user.id)  # the header's own (cached) figure
    return JsonResponse(
        {
            "code": str(generation.code),
            "status": generation.status,
            "active": generation.is_active,
            "message": generation.error_message,
            "images": [{"code": str(i.code), "status": i.status} for i in generation.images.all()],
            "position": place.position if place else None,
            "eta": None if place is None or place.starts_in is None else round(place.starts_in, 1),
            "queue_text": place.text if place else "",
            "card_html": card,
            "credits_spent": localize(spent),
            "credits_spent_text": f"{localize(spent)} credit{pluralize(spent)} spent",
        }
    )


@login_required
@require_GET
def image_original(request: HttpRequest, code) -> HttpResponse:
    image = selectors.get_image_for_user(user=request.user, code=code)
    if image.status != Image.Status.STORED:
        raise Http404("This image is not stored.")
    filename = f"pixelgallery-{image.generation.code}-{image.index + 1}.{image.file_extension}"
    download = request.GET.get("download") == "1"
    return _serve(image.file.name, content_type=image.content_type, filename=filename, download=download)


@login_required
@require_GET
def image_thumbnail(request: HttpRequest, code) -> HttpResponse:
    """The image's thumbnail for a logged-in viewer (older links; pages use ``signed_thumbnail`` URLs)."""
    image = selectors.get_image_for_user(user=request.user, code=code)
    if image.status != Image.Status.STORED:
        raise Http404("This image is not stored.")
    return _serve(
        image.thumbnail.name, content_type="image/webp", filename=f"{image.code}.webp", download=False
    )


@require_safe
def signed_thumbnail(request: HttpRequest, signature: str, expiry: int, key: str) -> HttpResponse:
    """A thumbnail by its signed URL (``generations/thumbnails.py``), for whoever holds it until it expires.

    The signature is the whole authorisation: no database query, no session, no user. Cached by the browser
    for good (the URL changes when the window does).
    """
    if not thumbnails.signature_is_valid(key, expiry, signature):
        raise PermissionDenied(
            "This thumbnail link has expired or is not valid: reload the page for a new one."
        )
    try:
        stored = default_storage.open(key, "rb")
    except FileNotFoundError as exc:
        raise Http404("This image is not stored.") from exc
    response = FileResponse(stored, content_type=thumbnails.CONTENT_TYPE)
    response["Cache-Control"] = thumbnails.CACHE_CONTROL
    return response
