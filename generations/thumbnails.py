"""Signed, cacheable thumbnail URLs: a page that has authorised its images hands out URLs that cost no query.

Rules:

* A URL is made only while rendering a page whose selectors already loaded the image for this user (every
  read is scoped by ``teams.permissions.visible_q``). Whoever holds it may fetch that one thumbnail until it
  expires: it is a bearer capability, like any presigned S3 URL. It names one storage key; the signature
  covers the key and the expiry, so it opens no other image and no later time.
* Expiry is rounded to windows of ``THUMBNAIL_URL_WINDOW_SECONDS`` (one UTC day by default): a URL made at any
  time during a window is valid until the end of the next one. The URL of a thumbnail is therefore the same on
  every page view during a window, and the browser keeps the file for good
  (``Cache-Control: private, max-age=31536000, immutable``): a revisit makes no thumbnail request.
* A member removed from a team gets no new URL (the pages no longer show them the team's images); those they
  already hold stop working at their expiry: after one to two windows (24 to 48 hours by default).
* Keys are never reused for other bytes (``services.persistence.image_storage_names``), so caching for good
  is safe: a remade thumbnail gets a new key.
* Local files (``FileSystemStorage``): ``/t/<signature>/<expiry>/<key>``, an HMAC-SHA256 of key and expiry
  under ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` still accepted), checked by ``views.signed_thumbnail``
  without the ORM, the session or the user.
* S3: a presigned GET that the bucket answers itself, with ``response-cache-control`` and
  ``response-content-type`` set; signed as at the window's start (not the clock's time) so that it is the same
  URL all window long. It needs long-lived access keys: a URL signed with temporary credentials stops working
  when they expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote

from botocore.auth import AUTH_TYPE_MAPS, SIGV4_TIMESTAMP, S3SigV4QueryAuth
from django.conf import settings
from django.core.files.storage import default_storage
from django.urls import get_script_prefix, reverse
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes

from generations.imaging import SMALL_THUMBNAIL_SIDE, THUMBNAIL_SIDE, thumbnail_size

CACHE_CONTROL = "private, max-age=31536000, immutable"
CONTENT_TYPE = "image/webp"
KEY_PREFIX = "thumbnails/"
_SALT = "pixelgallery.thumbnails.signed-url"


@dataclass(frozen=True)
class ThumbnailSources:
    """What an ``<img>`` of a thumbnail needs: ``src``, ``srcset`` (empty with one size only), its shape."""

    src: str
    srcset: str
    width: int | None
    height: int | None


def url_window(now: float | None = None) -> tuple[int, int]:
    """The current window's start and the expiry of URLs made during it (the end of the next window),
    both in Unix seconds."""
    window = settings.THUMBNAIL_URL_WINDOW_SECONDS
    start = int(time.time() if now is None else now) // window * window
    return start, start + 2 * window


def signature(key: str, expiry: int, *, secret: str | bytes | None = None) -> str:
    """The local URL's signature of ``key`` until ``expiry``: URL-safe base64 of an HMAC-SHA256 (Django's
    ``salted_hmac`` construction, its key derived once per secret)."""
    return _signature(_mac_key(force_bytes(secret or settings.SECRET_KEY)), key, expiry)


def _signature(mac_key: bytes, key: str, expiry: int) -> str:
    digest = hmac.digest(mac_key, f"{key}\n{expiry}".encode(), "sha256")
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@lru_cache(maxsize=8)
def _mac_key(secret: bytes) -> bytes:
    return hashlib.sha256(_SALT.encode() + secret).digest()


def signature_is_valid(key: str, expiry: int, offered: str, *, now: float | None = None) -> bool:
    """``offered`` signs exactly this thumbnail key until ``expiry``, which has not passed."""
    if not key.startswith(KEY_PREFIX) or expiry <= (time.time() if now is None else now):
        return False
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return any(constant_time_compare(offered, signature(key, expiry, secret=secret)) for secret in secrets)


def thumbnail_url(key: str, *, now: float | None = None) -> str:
    """A signed URL of the stored thumbnail ``key``, the same for the whole current window."""
    return _url_maker(now)(key)


def _url_maker(now: float | None) -> Callable[[str], str]:
    """What signs a key for the current window, set up once for the storage in use (for a page's tiles)."""
    start, expiry = url_window(now)
    if _is_s3():
        return lambda key: _presigned_url(key, start, expiry)
    prefix, mac_key = _local_prefix(get_script_prefix()), _mac_key(force_bytes(settings.SECRET_KEY))
    return lambda key: f"{prefix}{_signature(mac_key, key, expiry)}/{expiry}/{quote(key)}"


@lru_cache(maxsize=16)
def _local_prefix(script_prefix: str) -> str:
    """The ``signed_thumbnail`` URL up to its signature (``reverse`` for every tile costs ~50 µs)."""
    sample = reverse("signed_thumbnail", kwargs={"signature": "s", "expiry": 1, "key": "k"})
    return sample.removesuffix("s/1/k")


def thumbnail_sources(image, *, now: float | None = None) -> ThumbnailSources | None:
    """Signed sources of a stored image's thumbnails (``None`` without one): both sizes in ``srcset`` with
    their pixel widths when the small one exists, else the one thumbnail. Reads only the image's fields."""
    large_name, small_name = image.thumbnail.name, image.thumbnail_small.name
    if not large_name:
        return None
    url = _url_maker(now)
    large = url(large_name)
    srcset = ""
    if small_name and image.width and image.height:
        small = url(small_name)
        small_width = thumbnail_size(image.width, image.height, SMALL_THUMBNAIL_SIDE)[0]
        large_width = thumbnail_size(image.width, image.height, THUMBNAIL_SIDE)[0]
        srcset = f"{small} {small_width}w, {large} {large_width}w"
    return ThumbnailSources(src=large, srcset=srcset, width=image.width, height=image.height)


# --- S3: presigned as at the window's start --------------------------------------------------------------

_signed_at: ContextVar[datetime | None] = ContextVar("thumbnail_signed_at", default=None)
_SIGNER = "s3v4-pixelgallery-window-query"


class _WindowQueryAuth(S3SigV4QueryAuth):
    """botocore's presigned-URL signer (SigV4, query string), dated at the window's start instead of now."""

    def _modify_request_before_signing(self, request) -> None:
        request.context["timestamp"] = _signed_at.get().strftime(SIGV4_TIMESTAMP)
        super()._modify_request_before_signing(request)


AUTH_TYPE_MAPS.setdefault(_SIGNER, _WindowQueryAuth)


def _choose_window_signer(**kwargs) -> str | None:
    """botocore's ``choose-signer`` hook: our signer while a thumbnail URL is being made, else the default."""
    return _SIGNER if _signed_at.get() is not None else None


@contextmanager
def _signing_as_of(moment: datetime) -> Iterator[None]:
    token = _signed_at.set(moment)
    try:
        yield
    finally:
        _signed_at.reset(token)


def _is_s3() -> bool:
    return hasattr(default_storage, "bucket_name")


@lru_cache(maxsize=8192)
def _presigned(bucket: tuple[str, str, str], key: str, start: int, expiry: int) -> str:
    """Deterministic for its arguments (the bucket, endpoint and access key included), so it is kept:
    botocore takes a fraction of a millisecond to sign one URL."""
    client = default_storage.connection.meta.client
    client.meta.events.register_first(
        "choose-signer.s3.GetObject", _choose_window_signer, unique_id="pixelgallery-thumbnail-window"
    )
    parameters = {"ResponseCacheControl": CACHE_CONTROL, "ResponseContentType": CONTENT_TYPE}
    with _signing_as_of(datetime.fromtimestamp(start, UTC)):
        return default_storage.url(key, parameters=parameters, expire=expiry - start)


def _presigned_url(key: str, start: int, expiry: int) -> str:
    storage = default_storage
    bucket = (storage.bucket_name, storage.endpoint_url or "", storage.access_key or "")
    return _presigned(bucket, key, start, expiry)
