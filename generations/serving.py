"""Answering with a stored file: the one path for originals and thumbnails, whoever was allowed to see them
(a member's session, an API token, a share link)."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect


def serve_stored_file(name: str, *, content_type: str, filename: str, download: bool) -> HttpResponse:
    """Stream a stored file (local storage) or redirect to a short-lived signed URL (S3).

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
