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
* S3: a presigned GET (SigV4) that the bucket answers itself, with ``response-cache-control`` and
  ``response-content-type`` set; dated at the window's start (not the clock's time) so that it is the same
  URL all window long. It needs long-lived access keys: a URL signed with temporary credentials stops working
  when they expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlsplit

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
    """``offered`` signs exactly this thumbnail key until ``expiry``, which has not passed and is no later
    than a URL made now could have (so shortening the window shortens the URLs already handed out too)."""
    now = time.time() if now is None else now
    if not key.startswith(KEY_PREFIX) or not now < expiry <= now + 2 * settings.THUMBNAIL_URL_WINDOW_SECONDS:
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


def thumbnail_url_maker(now: float | None = None) -> Callable[[str], str]:
    """What signs thumbnail keys for the current window: make it once for a page of tiles and pass it to
    ``thumbnail_sources(url=…)`` (finding the storage and the window per image costs as much as signing)."""
    return _url_maker(now)


def thumbnail_sources(
    image, *, now: float | None = None, url: Callable[[str], str] | None = None
) -> ThumbnailSources | None:
    """Signed sources of a stored image's thumbnails (``None`` without one): both sizes in ``srcset`` with
    their pixel widths when the small one exists, else the one thumbnail. Reads only the image's fields."""
    large_name, small_name = image.thumbnail.name, image.thumbnail_small.name
    if not large_name:
        return None
    url = url or _url_maker(now)
    large = url(large_name)
    srcset = ""
    if small_name and image.width and image.height:
        small = url(small_name)
        small_width = thumbnail_size(image.width, image.height, SMALL_THUMBNAIL_SIDE)[0]
        large_width = thumbnail_size(image.width, image.height, THUMBNAIL_SIDE)[0]
        srcset = f"{small} {small_width}w, {large} {large_width}w"
    return ThumbnailSources(src=large, srcset=srcset, width=image.width, height=image.height)


# --- S3: presigned GETs dated at the window's start ------------------------------------------------------
# SigV4 query-string signing as AWS specifies it (what botocore's generate_presigned_url does), done here so
# that the signature is dated at the window's start (the same URL all window long) and a page of tiles costs
# microseconds, not ~0.3-0.5 ms per URL through botocore. Where the bucket is (endpoint, addressing style,
# signing region) comes from one URL botocore presigns for the storage; credentials from a boto3 session made
# as django-storages makes its own (refreshable ones are refreshed by boto3).

_PROBE_KEY = "thumbnails/probe.webp"


@dataclass(frozen=True)
class _Bucket:
    scheme: str
    host: str
    path_prefix: str  # the URL path before the key: "/" or "/<bucket>/"
    region: str
    credentials: object  # botocore Credentials


def _is_s3() -> bool:
    return hasattr(default_storage, "bucket_name")


def _presigned_url(key: str, start: int, expiry: int) -> str:
    storage = default_storage
    bucket = _bucket(storage.bucket_name, storage.endpoint_url or "", storage.access_key or "")
    credentials = bucket.credentials.get_frozen_credentials()
    timestamp = datetime.fromtimestamp(start, UTC).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{timestamp[:8]}/{bucket.region}/s3/aws4_request"
    params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{credentials.access_key}/{scope}",
        "X-Amz-Date": timestamp,
        "X-Amz-Expires": str(expiry - start),
        "X-Amz-SignedHeaders": "host",
        "response-cache-control": CACHE_CONTROL,
        "response-content-type": CONTENT_TYPE,
    }
    if credentials.token:
        params["X-Amz-Security-Token"] = credentials.token
    query = "&".join(f"{_aws_quote(name)}={_aws_quote(value)}" for name, value in sorted(params.items()))
    path = bucket.path_prefix + quote(key, safe="/~")
    canonical = f"GET\n{path}\n{query}\nhost:{bucket.host}\n\nhost\nUNSIGNED-PAYLOAD"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{digest}"
    signing_key = _aws_signing_key(credentials.secret_key, timestamp[:8], bucket.region)
    sign = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{bucket.scheme}://{bucket.host}{path}?{query}&X-Amz-Signature={sign}"


def _aws_quote(value: str) -> str:
    return quote(value, safe="-_.~")


@lru_cache(maxsize=8)
def _aws_signing_key(secret_key: str, day: str, region: str) -> bytes:
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@lru_cache(maxsize=8)
def _bucket(bucket_name: str, endpoint_url: str, access_key: str) -> _Bucket:
    """Where the storage's bucket answers and with which credentials (asked once per bucket)."""
    import boto3

    storage = default_storage
    probe = urlsplit(
        storage.connection.meta.client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket_name, "Key": _PROBE_KEY}
        )
    )
    if not probe.path.endswith("/" + _PROBE_KEY):
        raise ValueError(f"unexpected presigned URL path {probe.path!r} for the bucket {bucket_name!r}")
    region = dict(parse_qsl(probe.query))["X-Amz-Credential"].split("/")[2]
    if storage.session_profile:
        session = boto3.Session(profile_name=storage.session_profile)
    else:
        session = boto3.Session(
            aws_access_key_id=storage.access_key,
            aws_secret_access_key=storage.secret_key,
            aws_session_token=storage.security_token,
        )
    return _Bucket(
        scheme=probe.scheme,
        host=probe.netloc,
        path_prefix=probe.path.removesuffix(_PROBE_KEY),
        region=region,
        credentials=session.get_credentials(),
    )
