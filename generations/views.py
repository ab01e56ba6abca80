"""Pages: the gallery with its prompt form, generation detail, live status, image files."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.utils.formats import localize
from django.views.decorators.http import require_GET, require_http_methods

from credits.selectors import credits_spent_by_user
from generations import selectors, services
from generations.forms import GenerationForm
from generations.models import Image
from teams.active import active_team

GALLERY_PAGE_SIZE = 24


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.generations_for_user(user=request.user), GALLERY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "generations/gallery.html", {"page": page, "form": GenerationForm()})


@login_required
@require_http_methods(["GET", "POST"])
def generate(request: HttpRequest) -> HttpResponse:
    form = GenerationForm(request.POST or None, initial=_remix_initial(request))
    team = active_team(request)
    if request.method == "POST" and form.is_valid():
        try:
            generation = services.generation_submit(user=request.user, params=form.to_request(), team=team)
        except services.SubmissionRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(
                request, f"Queued: “{generation.prompt[:60]}”. Images appear below as they arrive."
            )
            return redirect("gallery")
    return render(request, "generations/generate.html", {"form": form, "team": team})


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
    return initial


@login_required
@require_GET
def generation_detail(request: HttpRequest, code) -> HttpResponse:
    generation = selectors.get_generation_for_user(user=request.user, code=code)
    return render(request, "generations/detail.html", {"generation": generation})


@login_required
@require_GET
def generation_status(request: HttpRequest, code) -> JsonResponse:
    """Live status for polling: state, message, the re-rendered gallery card and the header's credits spent.

    ``credits_spent_text`` is the header badge's text, formatted as ``base.html`` writes it, so the page can
    keep the badge in step as images finish without a reload.
    """
    generation = selectors.get_generation_for_user(user=request.user, code=code)
    card = render_to_string("generations/_card.html", {"generation": generation}, request=request)
    spent = credits_spent_by_user(user_id=request.user.id)
    return JsonResponse(
        {
            "code": str(generation.code),
            "status": generation.status,
            "active": generation.is_active,
            "message": generation.error_message,
            "images": [{"code": str(i.code), "status": i.status} for i in generation.images.all()],
            "card_html": card,
            "credits_spent": localize(spent),
            "credits_spent_text": f"{localize(spent)} credit{pluralize(spent)} spent",
        }
    )


def _serve(name: str, *, content_type: str, filename: str, download: bool) -> HttpResponse:
    """Stream a stored file to its owner (local storage) or redirect to a short-lived signed URL (S3).

    Remote objects are private: the redirect goes to a URL signed for this one object that expires within
    minutes, telling the storage how to name and type the file; the redirect itself is never cached.
    """
    if not name:
        raise Http404("This image is not stored.")
    try:
        default_storage.path(name)
    except NotImplementedError:  # remote storage (S3): a signed URL that expires in minutes.
        disposition = "attachment" if download else "inline"
        parameters = {"ResponseContentDisposition": f'{disposition}; filename="{filename}"'}
        if content_type:
            parameters["ResponseContentType"] = content_type
        response = redirect(default_storage.url(name, parameters=parameters))
        response["Cache-Control"] = "private, no-store"
        return response
    try:
        stored = default_storage.open(name, "rb")
    except FileNotFoundError as exc:
        raise Http404("This image is not stored.") from exc
    response = FileResponse(stored, content_type=content_type, as_attachment=download, filename=filename)
    response["Cache-Control"] = "private, max-age=3600"
    return response


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
    image = selectors.get_image_for_user(user=request.user, code=code)
    if image.status != Image.Status.STORED:
        raise Http404("This image is not stored.")
    return _serve(
        image.thumbnail.name, content_type="image/webp", filename=f"{image.code}.webp", download=False
    )
