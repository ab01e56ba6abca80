"""Pages: a team's webhook endpoints (register, delete, enable again) and one endpoint's delivery log
(re-send a delivery). Team admins and owners only; everyone else is refused as the permissions module says."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from teams.permissions import Action, role_refusal
from teams.selectors import get_membership_for_user
from webhooks import selectors, services
from webhooks.forms import EndpointForm
from webhooks.models import EVENT_TYPES, WebhookEndpoint


def _managed_team(request: HttpRequest, code):
    """The team, for a member who may manage its webhooks: 404 to outsiders, 403 (with why) to members."""
    team = get_membership_for_user(user=request.user, code=code).team
    refusal = role_refusal(request.user, Action.MANAGE_WEBHOOKS, team=team)
    if refusal:
        raise PermissionDenied(refusal)
    return team


def _managed_endpoint(request: HttpRequest, code, endpoint) -> WebhookEndpoint:
    team = _managed_team(request, code)
    return selectors.endpoint_for_team(team_id=team.id, code=endpoint)


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_list(request: HttpRequest, code) -> HttpResponse:
    team = _managed_team(request, code)
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        endpoint = services.endpoint_create(team=team, actor=request.user, **form.cleaned_data)
        messages.success(request, "Endpoint added. Copy its signing secret into your receiver.")
        return redirect("webhooks:detail", code=team.code, endpoint=endpoint.code)
    context = {
        "team": team,
        "form": form,
        "endpoints": selectors.endpoints_for_team(team_id=team.id),
        "event_types": EVENT_TYPES,
    }
    return render(request, "webhooks/list.html", context)


@login_required
@require_GET
def endpoint_detail(request: HttpRequest, code, endpoint) -> HttpResponse:
    hook = _managed_endpoint(request, code, endpoint)
    context = {"team": hook.team, "endpoint": hook, "deliveries": selectors.delivery_log(endpoint=hook)}
    return render(request, "webhooks/detail.html", context)


@login_required
@require_POST
def endpoint_delete(request: HttpRequest, code, endpoint) -> HttpResponse:
    hook = _managed_endpoint(request, code, endpoint)
    services.endpoint_delete(endpoint=hook)
    messages.success(request, f"Endpoint {hook.url} deleted; nothing more is sent to it.")
    return redirect("webhooks:list", code=hook.team.code)


@login_required
@require_POST
def endpoint_enable(request: HttpRequest, code, endpoint) -> HttpResponse:
    hook = _managed_endpoint(request, code, endpoint)
    services.endpoint_enable(endpoint=hook)
    messages.success(request, "Endpoint enabled: new events are sent to it again.")
    return redirect("webhooks:detail", code=hook.team.code, endpoint=hook.code)


@login_required
@require_POST
def delivery_resend(request: HttpRequest, code, endpoint, delivery) -> HttpResponse:
    hook = _managed_endpoint(request, code, endpoint)
    if not hook.is_active:
        messages.error(request, "Enable the endpoint before re-sending to it.")
    else:
        services.delivery_resend(delivery=selectors.delivery_for_endpoint(endpoint=hook, code=delivery))
        messages.success(request, "Re-sending now; the log below shows the attempt once it is made.")
    return redirect("webhooks:detail", code=hook.team.code, endpoint=hook.code)
