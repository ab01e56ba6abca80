"""Pages: a user's API tokens (create, shown once; revoke)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from api import selectors, services
from api.forms import TokenForm


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """The user's tokens and the form that makes one; a new token's secret is shown on this answer only."""
    form = TokenForm(request.POST or None, user=request.user)
    created = None
    if request.method == "POST" and form.is_valid():
        created = services.token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            team=form.chosen_team,
            expires_at=form.expires_at,
        )
        form = TokenForm(user=request.user)
    context = {"form": form, "created": created, "tokens": selectors.tokens_for_user(user=request.user)}
    return render(request, "api/tokens.html", context, status=201 if created else 200)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = selectors.tokens_for_user(user=request.user).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    services.token_revoke(user=request.user, token=token)
    messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    return redirect("tokens:list")
