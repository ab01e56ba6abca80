"""The operator's page: pipeline health, lost images, and resuming after a quota pause."""

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
def operations_catalogue_refresh(request: HttpRequest) -> HttpResponse:
    """Fetch PixelDojo's model catalogue now (a task on the workers, as the daily one)."""
    tasks.refresh_catalogue.delay()
    messages.success(request, "Catalogue refresh queued: reload this page in a moment.")
    return redirect("operations")
