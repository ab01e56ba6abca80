"""Share links: made from an image's or a collection's page, opened by anyone holding one (no login), listed
and revoked by their creators and the team's admins.

Every answer under ``/s/<token>/`` — the page, an original, and the 404 of an unknown, expired or revoked
link — is ``Cache-Control: private, no-store`` (a revoked link is never answered from a cache),
``X-Robots-Tag: noindex, nofollow`` and ``Referrer-Policy: no-referrer`` (the token is in the address).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from generations.serving import serve_stored_file
from library import selectors, services
from library.forms import ShareForm
from library.models import ShareLink
from pixelgallery.redirects import safe_next
from teams.permissions import Action, can, role_refusal
from teams.selectors import get_membership_for_user

SHARE_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}


def _public(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A share view: no login; a missing link or image is the site's 404 page; every answer carries
    ``SHARE_HEADERS``."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            response = render(request, "library/share_404.html", status=404)
        for header, value in SHARE_HEADERS.items():
            response[header] = value
        return response

    return wrapper


@_public
@require_GET
def share_page(request: HttpRequest, token: str) -> HttpResponse:
    """What the link shows (its image, or its collection's images as a grid), counting one view."""
    link = selectors.share_link_for_token(token)
    if link is None:
        raise Http404("No such share link.")
    services.share_link_count_view(link=link)
    context = {"link": link, "token": token, "images": selectors.shared_images(link=link)}
    return render(request, "library/share.html", context)


@_public
@require_GET
def share_original(request: HttpRequest, token: str, image: str) -> HttpResponse:
    """An original the link covers, through the members' own path (stream, or a signed S3 redirect)."""
    try:
        code = uuid.UUID(image)
    except ValueError:
        raise Http404("No such image.") from None  # still a share answer: not cached, not indexed
    link = selectors.share_link_for_token(token)
    shared = selectors.shared_image(link=link, code=code) if link is not None else None
    if shared is None:
        raise Http404("No such image.")
    filename = f"pixelgallery-{shared.code}.{shared.file_extension}"
    download = request.GET.get("download") == "1"
    return serve_stored_file(
        shared.file.name, content_type=shared.content_type, filename=filename, download=download
    )


def _created(request: HttpRequest, created: services.NewShareLink, *, back: str) -> HttpResponse:
    """The new link, shown this once (only its digest is kept), never cached."""
    url = request.build_absolute_uri(reverse("share_page", args=[created.token]))
    context = {"link": created.link, "url": url, "back": back}
    response = render(request, "library/share_created.html", context, status=201)
    response["Cache-Control"] = "private, no-store"
    return response


def _create(request: HttpRequest, *, image=None, collection=None, back: str) -> HttpResponse:
    target = image if image is not None else collection
    team, author_id = target.team, image.user_id if image is not None else collection.created_by_id
    if not can(request.user, Action.SHARE, team_id=target.team_id, author_id=author_id):
        refusal = role_refusal(request.user, Action.SHARE, team=team) if team else None
        raise PermissionDenied(refusal or "Only its author can share personal work.")
    forever = can(request.user, Action.SHARE_FOREVER, team_id=target.team_id, author_id=author_id)
    form = ShareForm(request.POST, forever=forever)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, f"No link was made: {' '.join(errors)}")
        return redirect(back)
    try:
        created = services.share_link_create(
            user=request.user,
            image=image,
            collection=collection,
            expires_in_days=form.expires_in_days,
            show_prompt=form.cleaned_data["show_prompt"],
            show_parameters=form.cleaned_data["show_parameters"],
        )
    except ValidationError as exc:
        messages.error(request, f"No link was made: {' '.join(exc.messages)}")
        return redirect(back)
    return _created(request, created, back=back)


@login_required
@require_POST
def image_share(request: HttpRequest, code) -> HttpResponse:
    image = selectors.get_image_for_user(user=request.user, code=code)
    return _create(request, image=image, back=reverse("image_detail", args=[image.code]))


@login_required
@require_POST
def collection_share(request: HttpRequest, code) -> HttpResponse:
    collection = selectors.collections_for(user=request.user).filter(code=code).first()
    if collection is None:
        raise Http404("No such collection.")
    return _create(request, collection=collection, back=reverse("collection_detail", args=[collection.code]))


@login_required
@require_POST
def share_revoke(request: HttpRequest, code) -> HttpResponse:
    """Revoke a link (its creator, or an admin or owner of its team); back to ``next`` or where it points."""
    link = selectors.share_link_for_user(user=request.user, code=code)
    services.share_link_revoke(user=request.user, link=link)
    messages.success(request, "Share link revoked: it no longer opens anything.")
    if link.kind == ShareLink.Kind.IMAGE:
        fallback = reverse("image_detail", args=[link.image.code])
    else:
        fallback = reverse("collection_detail", args=[link.collection.code])
    return redirect(safe_next(request, fallback))


@login_required
@require_GET
def team_shares(request: HttpRequest, code) -> HttpResponse:
    """Every share link of the team, for its admins and owners (404 to outsiders, 403 with why to members)."""
    team = get_membership_for_user(user=request.user, code=code).team
    if refusal := role_refusal(request.user, Action.MANAGE_SHARES, team=team):
        raise PermissionDenied(refusal)
    links = selectors.team_share_links(team_id=team.id)
    return render(request, "library/team_shares.html", {"team": team, "links": links})
