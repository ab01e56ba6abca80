"""Fetching provider image URLs safely: allowed hosts only, no redirects, streamed with a size cap."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings


class DownloadError(Exception):
    """The image could not be fetched; ``retryable`` says whether trying again may help."""

    retryable = True


class ImageGone(DownloadError):
    """PixelDojo no longer has the image (its URL expired)."""

    retryable = False


class RefusedURL(DownloadError):
    """The URL points somewhere we never fetch from."""

    retryable = False


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _is_public_host(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(addr.split("%")[0]).is_global for addr in addresses)


def check_image_url(url: str) -> None:
    """Refuse a URL unless it is http(s) on the API's own host or a listed public image host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedURL(f"Refused to fetch a non-HTTP image URL ({parts.scheme or 'no scheme'}).")
    host = parts.hostname.lower()
    if host == _host(settings.PIXELDOJO_BASE_URL):
        return
    listed = {item.lower() for item in settings.PIXELDOJO_IMAGE_HOSTS}
    if host not in listed:
        raise RefusedURL(f"Refused to fetch an image from {host}: not an allowed PixelDojo image host.")
    if not _is_public_host(host):
        raise RefusedURL(f"Refused to fetch an image from {host}: it resolves to a private address.")


def fetch_image(url: str, *, max_bytes: int, timeout: tuple[float, float] = (5.0, 60.0)) -> tuple[bytes, str]:
    """Download ``url`` (streamed, capped at ``max_bytes``); return its bytes and declared content type."""
    check_image_url(url)
    try:
        with requests.get(url, stream=True, timeout=timeout, allow_redirects=False) as response:
            if response.status_code in (403, 404, 410):
                raise ImageGone("PixelDojo no longer has this image: its 24-hour link expired.")
            if 300 <= response.status_code < 400:
                raise RefusedURL("The image URL redirected elsewhere; redirects are not followed.")
            if response.status_code != 200:
                raise DownloadError(f"The image download failed with HTTP {response.status_code}.")
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise RefusedURL(f"The image is larger than the {max_bytes // (1024 * 1024)} MB limit.")
            chunks: list[bytes] = []
            received = 0
            for chunk in response.iter_content(chunk_size=64 * 1024):
                received += len(chunk)
                if received > max_bytes:
                    raise RefusedURL(f"The image is larger than the {max_bytes // (1024 * 1024)} MB limit.")
                chunks.append(chunk)
            if declared and received != declared:
                raise DownloadError(f"The image download was cut short ({received} of {declared} bytes).")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            return b"".join(chunks), content_type
    except requests.RequestException as exc:
        raise DownloadError(f"The image download failed ({type(exc).__name__}).") from exc
