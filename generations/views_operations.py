"""The operator's page: pipeline health, lost images, and resuming after a quota pause."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from generations import selectors, services


@staff_member_required
@require_GET
def operations(request: HttpRequest) -> HttpResponse:
    return render(request, "generations/operations.html", {"overview": selectors.operations_overview()})


@staff_member_required
@require_POST
def operations_resume(request: HttpRequest) -> HttpResponse:
    cleared = services.provider_pause_clear(user=request.user)
    messages.success(request, "Generation resumed." if cleared else "Generation was not paused.")
    return redirect("operations")
