"""PixelDojo's job-completion webhook: a nudge to poll the job now, never a source of its outcome."""

from __future__ import annotations

import json
import secrets

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from generations.services import jobs

MAX_HOOK_BYTES = 64 * 1024


@csrf_exempt
@require_POST
def pixeldojo_job_hook(request: HttpRequest, secret: str) -> JsonResponse:
    """``POST /hooks/pixeldojo/<secret>/``: when the secret matches ``PIXELDOJO_JOB_WEBHOOK_SECRET``, the job
    named in the body (``jobId``, ``job_id``, ``id``, or inside ``job`` / ``data``) is polled at once if it
    is one of ours still running. A matching secret always gets 202, whichever job it names."""
    expected = settings.PIXELDOJO_JOB_WEBHOOK_SECRET
    if not expected or not secrets.compare_digest(secret.encode(), expected.encode()):
        raise Http404("No such hook.")
    job_id = _job_id(request.body[:MAX_HOOK_BYTES] if len(request.body) <= MAX_HOOK_BYTES else b"")
    if job_id and (generation_id := jobs.job_for_webhook(job_id)) is not None:
        jobs.job_poll_now(generation_id=generation_id)
    return JsonResponse({"accepted": True}, status=202)


def _job_id(body: bytes) -> str:
    """The job id a hook names, or "" when its body is not JSON or names none."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(payload, dict):
        return ""
    for holder in (payload, payload.get("job"), payload.get("data")):
        if isinstance(holder, dict):
            for name in ("jobId", "job_id", "id"):
                value = holder.get(name)
                if isinstance(value, str) and 0 < len(value.strip()) <= 128:
                    return value.strip()
    return ""
