"""Library pages: my images, the team library, image detail and curation actions."""

from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from credits.selectors import credits_for_image
from library import selectors, selectors_family, selectors_similar, services
from library.filters import LibraryFilterForm, widgets_html
from library.forms import (
    COMPARE_MAX,
    COMPARE_MIN,
    BulkForm,
    CollectionForm,
    CompareForm,
    ShareForm,
    TagsForm,
)
from pixelgallery.redirects import safe_next
from teams.active import active_team
from teams.permissions import Action, can, can_delete, memberships_of, role_refusal


def _library(request: HttpRequest, *, mine: bool, team, title: str, collection=None) -> HttpResponse:
    """A library listing; bulk actions offered only to those who may use them, each tile saying whether
    this user may delete it (``deletable``) so the page can refuse a mixed selection before it is sent."""
    form = LibraryFilterForm(request.GET)
    form.is_valid()
    filters = form.to_filters()
    filtering = filters.active  # what the visitor chose; a collection page narrows by itself
    if collection is not None:
        filters = replace(filters, collection=str(collection.code))
    page = selectors.library_page(
        user=request.user,
        team=team,
        mine=mine,
        filters=filters,
        cursor=request.GET.get("cursor", ""),
        fields=selectors.TILE_FIELDS,
    )
    if filters.collapse:
        page = replace(page, images=selectors_similar.collapse_near_duplicates(page.images))
    user, team_id = request.user, team.id if team else None
    for image in page.images:
        image.deletable = can_delete(user, team_id=image.team_id, author_id=image.user_id)
    query = request.GET.copy()
    query.pop("cursor", None)
    toggled = query.copy()  # the same page with near-duplicates collapsed, or not
    toggled.pop("fragment", None)
    toggled.pop("collapse", None)
    if not filters.collapse:
        toggled["collapse"] = "1"
    context = {
        "title": title,
        "form": form,
        "widgets": widgets_html(form),
        "filters": filters,
        "filtering": filtering,
        "page": page,
        "query": query.urlencode(),
        "collapse_toggle": toggled.urlencode(),
        "mine": mine,
        "team": team,
        "collection": collection,
        "collections": selectors.collection_choices(user=user, team=None if mine else team),
        "can_curate": can(user, Action.CURATE, team_id=team_id),
        "offer_delete": any(image.deletable for image in page.images),  # their own, or anyone's as admin
        "delete_all": mine or can(user, Action.DELETE_ANY, team_id=team_id),
    }
    if collection is not None and not request.GET.get("fragment"):
        context.update(_sharing(user, collection=collection))
    template = "library/_tiles.html" if request.GET.get("fragment") else "library/library.html"
    return render(request, template, context)


@login_required
@require_GET
def my_images(request: HttpRequest) -> HttpResponse:
    return _library(request, mine=True, team=None, title="My images")


def _no_team_message(request: HttpRequest) -> str:
    """What to do to see a team library: pick a team in the header (if the user has any), or go to Teams."""
    teams_link = format_html('<a href="{}">Teams</a>', reverse("teams:list"))
    if memberships_of(request.user):
        return format_html(
            "You are working in Personal, so there is no team library to show. Pick one of your teams under "
            '<a href="#team-switcher-select">Working in</a> at the top of the page, or create or join '
            "another team on {}.",
            teams_link,
        )
    return format_html(
        "You are not in a team yet, so there is no team library to show. Create a team or accept an "
        "invitation on {}.",
        teams_link,
    )


@login_required
@require_GET
def team_library(request: HttpRequest) -> HttpResponse:
    team = active_team(request)
    if team is None:
        messages.info(request, _no_team_message(request))
        return redirect("my_images")
    return _library(request, mine=False, team=team, title=f"{team.name} library")


@login_required
@require_GET
def image_detail(request: HttpRequest, code) -> HttpResponse:
    """One image and its remix family; its controls only for those who may use them (remixing generates in
    the active team)."""
    image = selectors.get_image_for_user(user=request.user, code=code)
    boards = selectors.collections_for_image(user=request.user, image=image)
    context = {
        "similar": selectors_similar.similar_images(user=request.user, image=image),
        "image": image,
        "generation": image.generation,
        "credits": credits_for_image(image_id=image.id),
        "tags": [item.tag.name for item in image.image_tags.select_related("tag")],
        "tags_form": TagsForm(initial={"tags": ""}),
        "in_collections": [board for board in boards if board.holds_image],
        "other_collections": [board for board in boards if not board.holds_image],
        "can_curate": can(request.user, Action.CURATE, team_id=image.team_id, author_id=image.user_id),
        "can_delete": can_delete(request.user, team_id=image.team_id, author_id=image.user_id),
        "remix_refusal": role_refusal(request.user, Action.GENERATE, team=active_team(request)),
        "family": selectors_family.image_family(user=request.user, image=image),
        **_sharing(request.user, image=image),
    }
    return render(request, "library/image_detail.html", context)


def _sharing(user, *, image=None, collection=None) -> dict:
    """The share form (for those who may share this image or collection), why there is none, and the links
    to it this user may revoke."""
    target = image if image is not None else collection
    author_id = image.user_id if image is not None else collection.created_by_id
    may_share = can(user, Action.SHARE, team_id=target.team_id, author_id=author_id)
    forever = can(user, Action.SHARE_FOREVER, team_id=target.team_id, author_id=author_id)
    return {
        "share_form": ShareForm(forever=forever) if may_share else None,
        "share_refusal": None if may_share else role_refusal(user, Action.SHARE, team=target.team),
        "share_links": selectors.share_links_for_target(user=user, image=image, collection=collection),
    }


@login_required
@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    """2 to 4 images side by side with their parameters (``?images=<code>,<code>…``); a slider for two."""
    form = CompareForm(request.GET)
    if not form.is_valid():
        return render(request, "library/compare.html", {"form": form}, status=400)
    compared = selectors.images_to_compare(user=request.user, codes=form.cleaned_data["images"])
    return render(request, "library/compare.html", {"form": form, "compared": compared})


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_POST
def image_favourite(request: HttpRequest, code) -> HttpResponse:
    image = selectors.get_image_for_user(user=request.user, code=code)
    state = services.favourite_set(
        user=request.user, image=image, favourite=request.POST.get("favourite") == "1"
    )
    if _wants_json(request):
        return JsonResponse({"favourite": state})
    return redirect(safe_next(request, reverse("image_detail", args=[image.code])))


@login_required
@require_POST
def image_tags(request: HttpRequest, code) -> HttpResponse:
    image = selectors.get_image_for_user(user=request.user, code=code)
    form = TagsForm(request.POST)
    if form.is_valid():
        services.tags_set(user=request.user, image=image, names=form.cleaned_data["tags"])
    else:
        messages.error(request, " ".join(form.errors["tags"]))
    return redirect("image_detail", code=image.code)


@login_required
@require_POST
def image_delete(request: HttpRequest, code) -> HttpResponse:
    image = selectors.get_image_for_user(user=request.user, code=code)
    services.images_delete(user=request.user, images=[image])
    messages.success(request, "Image deleted, with its stored files.")
    return redirect("team_library" if image.team_id else "my_images")


@login_required
@require_POST
def image_collect(request: HttpRequest, code) -> HttpResponse:
    image = selectors.get_image_for_user(user=request.user, code=code)
    collection = _collection_or_404(request, request.POST.get("collection", ""))
    try:
        added = services.collection_add(user=request.user, collection=collection, images=[image])
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(
            request, f"Added to “{collection.name}”." if added else f"Already in “{collection.name}”."
        )
    return redirect("image_detail", code=image.code)


def _message(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _collection_or_404(request: HttpRequest, code: str):
    import uuid

    try:
        key = uuid.UUID(str(code))
    except ValueError:
        raise Http404("No such collection.") from None
    collection = selectors.collections_for(user=request.user).filter(code=key).first()
    if collection is None:
        raise Http404("No such collection.")
    return collection


@login_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    back = safe_next(request, reverse("my_images"))
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect(back)
    action = form.cleaned_data["action"]
    if action == "compare":
        if not COMPARE_MIN <= len(form.image_codes) <= COMPARE_MAX:
            messages.error(request, f"Select {COMPARE_MIN} to {COMPARE_MAX} images to compare.")
            return redirect(back)
        codes = ",".join(str(code) for code in form.image_codes)
        return redirect(f"{reverse('library_compare')}?images={codes}")
    images = list(
        selectors.visible_images(user=request.user)
        .filter(code__in=form.image_codes)
        .select_related("generation")
        .order_by("-created_at", "-id")
    )
    try:
        if action == "zip":
            stamp = timezone.now().strftime("%Y%m%d-%H%M")
            response = StreamingHttpResponse(services.zip_stream(images), content_type="application/zip")
            response["Content-Disposition"] = f'attachment; filename="pixelgallery-{stamp}.zip"'
            return response
        if action == "collect":
            collection = _collection_or_404(request, form.cleaned_data["collection"])
            added = services.collection_add(user=request.user, collection=collection, images=images)
            messages.success(
                request, f"Added {added} image{'s' if added != 1 else ''} to “{collection.name}”."
            )
        else:
            deleted = services.images_delete(user=request.user, images=images)
            messages.success(request, f"Deleted {deleted} image{'s' if deleted != 1 else ''}.")
    except ValidationError as exc:
        messages.error(request, _message(exc))
    except PermissionDenied as refused:  # told in the library page the bar is on; nothing was changed
        messages.error(request, f"{refused} Nothing was changed.")
    return redirect(back)


@login_required
def collections(request: HttpRequest) -> HttpResponse:
    form = CollectionForm(request.POST or None)
    team = active_team(request)
    can_create = team is None or can(request.user, Action.CURATE, team_id=team.id)
    if request.method == "POST":
        if not can_create:
            raise PermissionDenied("Only members can create collections in this team.")
        if form.is_valid():
            name = form.cleaned_data["name"]
            collection = services.collection_create(user=request.user, team=team, name=name)
            return redirect("collection_detail", code=collection.code)
    boards = selectors.collections_for(user=request.user).order_by("team__name", "name")
    context = {"form": form, "boards": boards, "team": team, "can_create": can_create}
    return render(request, "library/collections.html", context)


@login_required
@require_GET
def collection_detail(request: HttpRequest, code) -> HttpResponse:
    collection = _collection_or_404(request, code)
    if collection.team_id is None:
        return _library(request, mine=True, team=None, title=collection.name, collection=collection)
    return _library(request, mine=False, team=collection.team, title=collection.name, collection=collection)


@login_required
@require_POST
def collection_edit(request: HttpRequest, code) -> HttpResponse:
    """Rename, delete, remove an image, or set the cover — one POST endpoint per board; back to ``next``
    (e.g. the image page an image was removed from) or to the board."""
    collection = _collection_or_404(request, code)
    operation = request.POST.get("operation")
    try:
        if operation == "rename":
            form = CollectionForm(request.POST)
            if not form.is_valid():
                raise ValidationError(form.errors["name"])
            services.collection_rename(
                user=request.user, collection=collection, name=form.cleaned_data["name"]
            )
        elif operation == "delete":
            services.collection_delete(user=request.user, collection=collection)
            messages.success(request, f"Collection “{collection.name}” deleted (its images are kept).")
            return redirect("collections")
        elif operation == "remove":
            image = selectors.get_image_for_user(user=request.user, code=request.POST.get("image"))
            services.collection_remove(user=request.user, collection=collection, image=image)
            messages.success(request, f"Removed from “{collection.name}”.")
        elif operation == "cover":
            image = selectors.get_image_for_user(user=request.user, code=request.POST.get("image"))
            services.collection_set_cover(user=request.user, collection=collection, image=image)
        else:
            raise ValidationError("Unknown operation.")
    except ValidationError as exc:
        messages.error(request, _message(exc))
    return redirect(safe_next(request, reverse("collection_detail", args=[collection.code])))
