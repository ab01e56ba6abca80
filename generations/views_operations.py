"""The operator's page: pipeline health, lost images, resuming after a quota pause, allowing image hosts."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from generations import selectors, services, tasks
from generations.selectors_catalogue import catalogue_overview


@staff_member_required
@require_GET
def operations(request: HttpRequest) -> HttpResponse:
    context = {"overview": selectors.operations_overview(), "catalogue": catalogue_overview()}
    return render(request, "generations/operations.html", context)


@staff_member_required
@require_POST
def operations_resume(request: HttpRequest) -> HttpResponse:
    cleared = services.provider_pause_clear(user=request.user)
    messages.success(request, "Generation resumed." if cleared else "Generation was not paused.")
    return redirect("operations")


@staff_member_required
@require_POST
def operations_allow_host(request: HttpRequest) -> HttpResponse:
    """Allow a host images wait for: they are re-queued (or expired, past PixelDojo's retention)."""
    host = request.POST.get("host", "").strip().lower()
    if host not in {waiting.host for waiting in selectors.image_hosts_waiting()}:
        messages.error(request, "No image waits for that host.")
        return redirect("operations")
    counts = services.image_host_allow(host=host, user=request.user)
    requeued, expired = counts["images_requeued"], counts["images_expired"]
    text = f"{host} is allowed: {requeued} image{'s' if requeued != 1 else ''} re-queued"
    if expired:
        text += f", {expired} expired (PixelDojo had deleted {'them' if expired != 1 else 'it'})"
    messages.success(request, f"{text}.")
    return redirect("operations")


@staff_member_required
@require_POST
def operations_catalogue_refresh(request: HttpRequest) -> HttpResponse:
    """Fetch PixelDojo's model catalogue now (a task on the workers, as the daily one)."""
    tasks.refresh_catalogue.delay()
    messages.success(request, "Catalogue refresh queued: reload this page in a moment.")
    return redirect("operations")
