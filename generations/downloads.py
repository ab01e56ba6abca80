"""Fetching provider image URLs safely: allowed hosts only, no redirects, streamed with a size and time cap.

Rules, in order:

* only ``http``/``https`` URLs, and never plain HTTP when the PixelDojo API itself is configured on HTTPS;
* the API's own host and port (``PIXELDOJO_BASE_URL``; the sandbox lives on loopback), or an allowed image
  host whose every address is public: by default the API host's subdomains (``temp.pixeldojo.ai`` beside
  ``pixeldojo.ai``), plus the hosts in ``PIXELDOJO_IMAGE_HOSTS`` and those the caller passes (operators allow
  them on ``/ops/``); a host named in ``PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK`` (tests only, refused by the deploy
  check) may also resolve to loopback;
* a host that is not allowed is refused with ``HostNotAllowed`` (the image then waits for an operator, it
  is not failed); every other refusal is final;
* the host is looked up once and the connection goes to an address from that answer, so a hostile DNS
  cannot answer the check with a public address and the connection with a private one (DNS rebinding);
  ``Host``, TLS SNI and the certificate check still use the name;
* no proxy from the environment is used (it would look the name up again);
* redirects are refused, not followed;
* the body is streamed, refused past ``max_bytes``, and must arrive completely within the read budget:
  a server that trickles bytes forever is cut off at the deadline, not only when it stalls;
* a body cut short (fewer bytes than its Content-Length, a chunked body without its last chunk, a reset
  connection) is a retryable ``DownloadError``, raised here, before anything is decoded: only a body that
  arrived whole reaches Pillow, whose refusal is then final. (A body without Content-Length or chunking
  ends when the connection closes, so its end cannot be told from a cut.)
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import LocationParseError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.util import parse_url

DEFAULT_PORTS = {"http": 80, "https": 443}
CHUNK_BYTES = 64 * 1024
RETRYABLE_STATUSES = frozenset({408, 425, 429})
GONE_STATUSES = frozenset({403, 404, 410})
HEADERS = {"Accept": "image/png, image/jpeg, image/webp", "Accept-Encoding": "identity"}
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class DownloadError(Exception):
    """The image could not be fetched; ``retryable`` says whether trying again may help."""

    retryable = True

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class ImageGone(DownloadError):
    """PixelDojo no longer has the image (its URL expired)."""

    retryable = False


class RefusedURL(DownloadError):
    """The URL, or what answered it, is something we never fetch from."""

    retryable = False


class HostNotAllowed(RefusedURL):
    """The URL's host is not (yet) an allowed image host: nothing was fetched, an operator may allow it."""

    def __init__(self, host: str) -> None:
        super().__init__(f"Refused to fetch an image from {host}: not an allowed PixelDojo image host.")
        self.host = host


# --- Where we fetch from --------------------------------------------------------------------------------


def _port(parts: SplitResult, scheme: str) -> int:
    """The URL's port, or ``scheme``'s default when it names none."""
    return parts.port or DEFAULT_PORTS[scheme]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_loopback_address(text: str) -> bool:
    """True for a loopback address (also one an IPv6 address wraps)."""
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return inner.is_loopback
    return address.is_loopback


def _is_global_address(text: str) -> bool:
    """True for a public internet address, including the IPv4 address an IPv6 one may wrap."""
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None and not inner.is_global:
            return False
    return address.is_global


@dataclass(frozen=True)
class ImageTarget:
    """A checked URL's server: its name (for ``Host``, SNI and the certificate) and the addresses checked."""

    host: str
    netloc: str
    addresses: tuple[str, ...]


def _resolve(host: str, port: int) -> tuple[str, ...]:
    """Every address ``host`` resolves to, looked up once: the only addresses checked and connected to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DownloadError(
            f"Could not look up the image server {host}; it may be a passing DNS fault."
        ) from exc
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DownloadError(f"Could not look up the image server {host}; it may be a passing DNS fault.")
    return addresses


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_allowed_image_host(host: str, *, extra_hosts: Iterable[str] = ()) -> bool:
    """True when images may come from ``host`` (by name; its addresses are checked when fetching).

    Allowed: the API's host, its subdomains (when it is a name, not an address), ``PIXELDOJO_IMAGE_HOSTS``
    and ``extra_hosts`` (the hosts operators allowed).
    """
    host = host.strip().lower()
    api_host = (urlsplit(settings.PIXELDOJO_BASE_URL).hostname or "").lower()
    if host == api_host or (api_host and not _is_ip_literal(api_host) and host.endswith(f".{api_host}")):
        return True
    listed = {item.strip().lower() for item in (*settings.PIXELDOJO_IMAGE_HOSTS, *extra_hosts)}
    return host in listed


def allowing_setting(host: str) -> str:
    """The setting that allows ``host`` too, as an operator writes it: ``PIXELDOJO_IMAGE_HOSTS=a,host``."""
    hosts = [item.strip() for item in settings.PIXELDOJO_IMAGE_HOSTS if item.strip().lower() != host]
    return f"PIXELDOJO_IMAGE_HOSTS={','.join([*hosts, host])}"


def check_image_url(url: str, *, extra_hosts: Iterable[str] = ()) -> ImageTarget:
    """Raise ``RefusedURL`` unless ``url`` is http(s) on the API's host and port, or an allowed public host
    (``HostNotAllowed`` when only the host's name stands in the way).

    Returns where to connect: the addresses the host resolved to when checked, and nothing else.
    """
    scheme, host, port = _parse(url)
    base = urlsplit(settings.PIXELDOJO_BASE_URL)
    if base.scheme.lower() == "https" and scheme != "https":
        raise RefusedURL(f"Refused to fetch an image from {host} over plain HTTP: PixelDojo uses HTTPS.")
    if host == (base.hostname or "").lower():
        _check_api_port(host, port, _port(base, scheme))
        addresses = _resolve(host, port)
    else:
        if not is_allowed_image_host(host, extra_hosts=extra_hosts):
            raise HostNotAllowed(host)
        addresses = _resolve(host, port)
        loopback_ok = host in {item.strip().lower() for item in settings.PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK}
        if not all(
            _is_global_address(address) or (loopback_ok and _is_loopback_address(address))
            for address in addresses
        ):
            raise RefusedURL(f"Refused to fetch an image from {host}: it resolves to a private address.")
    return ImageTarget(host=host, netloc=urlsplit(url).netloc, addresses=addresses)


def check_public_url(url: str, *, loopback_ok: Iterable[str] = ()) -> ImageTarget:
    """The same guard for a URL we send to rather than fetch images from (webhooks): http(s), unambiguous,
    no credentials, and every address the host resolves to public (or loopback, for a host in
    ``loopback_ok``: tests only). Returns the checked addresses, the only ones to connect to."""
    _scheme, host, port = _parse(url)
    addresses = _resolve(host, port)
    loopback = host in {item.strip().lower() for item in loopback_ok}
    if not all(_is_global_address(item) or (loopback and _is_loopback_address(item)) for item in addresses):
        raise RefusedURL(f"Refused to send to {host}: it resolves to a private address.")
    return ImageTarget(host=host, netloc=urlsplit(url).netloc, addresses=addresses)


def _parse(url: str) -> tuple[str, str, int]:
    """Scheme, host and port the HTTP client will really connect to; anything ambiguous is refused.

    Python's URL parser and urllib3's (which requests uses) read some malformed URLs differently, e.g.
    ``http://evil.example\\@127.0.0.1/``; such a URL must not pass the check as one host and be fetched
    from another, so both must agree, and credentials, backslashes and control characters are refused.
    """
    if any(char == "\\" or ord(char) <= 32 or ord(char) == 127 for char in url):
        raise RefusedURL("Refused to fetch a malformed image URL.")
    ours = urlsplit(url)
    scheme = ours.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise RefusedURL(f"Refused to fetch an image from a non-HTTP URL ({scheme or 'no scheme'}).")
    try:
        theirs = parse_url(url)
        our_host, our_port = ours.hostname, ours.port
    except (ValueError, LocationParseError) as exc:
        raise RefusedURL("Refused to fetch a malformed image URL.") from exc
    host = (theirs.host or "").strip("[]").lower()
    if not host or not our_host:
        raise RefusedURL("Refused to fetch an image URL without a host.")
    if theirs.auth or ours.username is not None:
        raise RefusedURL(f"Refused to fetch an image URL with credentials in it ({host}).")
    if host != our_host or theirs.port != our_port:
        raise RefusedURL("Refused to fetch an ambiguous image URL.")
    return scheme, host, theirs.port or DEFAULT_PORTS[scheme]


def _check_api_port(host: str, port: int, expected: int) -> None:
    """On the API's own host (which may be loopback, like the sandbox) only the API's port is fetched from."""
    if port != expected:
        raise RefusedURL(
            f"Refused to fetch an image from {host} port {port}: PixelDojo answers on port {expected}."
        )


# --- Fetching -------------------------------------------------------------------------------------------


def retention_words() -> str:
    """PixelDojo's retention as words for a message, e.g. "24-hour" or "90-minute" (as in "its 24-hour link").

    Read from ``PIXELDOJO_RETENTION_SECONDS`` each time a message is written, so it follows the setting.
    """
    seconds = settings.PIXELDOJO_RETENTION_SECONDS
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}-{unit}"
    return f"{seconds}-second"


def _size(count: int) -> str:
    """``count`` bytes for people: whole MB from 1 MB up, bytes below."""
    mib = 1024 * 1024
    return f"{count // mib} MB" if count >= mib else f"{count} bytes"


def _too_large(max_bytes: int) -> RefusedURL:
    return RefusedURL(f"The image is larger than the {_size(max_bytes)} limit.")


def _declared_length(response: requests.Response) -> int | None:
    """The Content-Length the server announced, or ``None`` when absent or malformed."""
    try:
        length = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def _check_status(response: requests.Response) -> None:
    """Raise the error a non-200 answer stands for."""
    status = response.status_code
    if status == 200:
        return
    if status in GONE_STATUSES:
        raise ImageGone(f"PixelDojo no longer has this image: its {retention_words()} link expired.")
    if 300 <= status < 400:
        target = _host_of(response.headers.get("Location", ""))
        where = f" to {target}" if target else ""
        raise RefusedURL(f"The image URL redirected{where} (HTTP {status}); redirects are not followed.")
    retryable = status in RETRYABLE_STATUSES or status >= 500
    raise DownloadError(f"The image download failed with HTTP {status}.", retryable=retryable)


def _host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _check_encoding(response: requests.Response) -> None:
    """Images are already compressed: a content-encoded body could hide a compression bomb."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise DownloadError(
            f"The image was sent {encoding}-encoded; only plain image bytes are accepted.", retryable=False
        )


def _wait_at_most(response: requests.Response, seconds: float) -> None:
    """Let the next socket read block no longer than ``seconds``."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.01))


def _read_body(response: requests.Response, *, max_bytes: int, deadline: float, budget: float) -> bytes:
    """Read the body one socket read at a time, refusing it past ``max_bytes`` or past ``deadline``."""
    chunks: list[bytes] = []
    received = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DownloadError(f"The image download took longer than {budget:g} s and was abandoned.")
        _wait_at_most(response, left)
        try:
            chunk = response.raw.read1(CHUNK_BYTES, decode_content=False)
        except ReadTimeoutError as exc:
            raise DownloadError(
                f"The image download took longer than {budget:g} s and was abandoned."
            ) from exc
        except ProtocolError as exc:
            raise DownloadError(f"The image download was cut short after {received} bytes.") from exc
        if not chunk:
            return b"".join(chunks)
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)


class _PinnedAdapter(HTTPAdapter):
    """Connects to one checked address, never to a fresh lookup of the name; TLS still names the host.

    With ``server_hostname`` urllib3 sends the name as SNI and the ``ssl`` module verifies the certificate
    against it (hostname checking stays on), while the socket goes to ``address``.
    """

    def __init__(self, address: str, host: str) -> None:
        super().__init__(max_retries=0)
        self._address = f"[{address}]" if ":" in address else address
        self._host = host

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params["host"] = self._address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self._host
        return host_params, pool_kwargs


def _trusted_cas() -> str | bool:
    """The CAs requests would trust: ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` if set, else its own."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when no connection was made (nothing was sent), so the next checked address may be tried."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectTimeout) or isinstance(reason, NewConnectionError)


def fetch_image(
    url: str,
    *,
    max_bytes: int,
    timeout: tuple[float, float] = (5.0, 60.0),
    extra_hosts: Iterable[str] = (),
) -> bytes:
    """Download ``url`` (streamed, capped at ``max_bytes``); return its bytes (Pillow tells their type later).

    ``timeout`` is (connect, read) seconds. No socket read waits longer than ``read``, and the whole body must
    have arrived ``read`` seconds after the request started: a server trickling bytes is cut off then.
    The checked addresses are tried in turn while none accepts the connection, as a normal connect would.
    ``extra_hosts`` are allowed image hosts beyond the settings (those operators allowed).
    """
    target = check_image_url(url, extra_hosts=extra_hosts)
    deadline = time.monotonic() + timeout[1]
    try:
        for address in target.addresses[:-1]:
            try:
                return _get(url, target, address, max_bytes=max_bytes, timeout=timeout, deadline=deadline)
            except requests.ConnectionError as exc:
                if not _never_connected(exc):
                    raise
        last = target.addresses[-1]
        return _get(url, target, last, max_bytes=max_bytes, timeout=timeout, deadline=deadline)
    except requests.ConnectTimeout as exc:
        raise DownloadError(f"Could not connect to the image server within {timeout[0]:g} s.") from exc
    except requests.Timeout as exc:
        raise DownloadError(f"The image server did not answer within {timeout[1]:g} s.") from exc
    except requests.exceptions.SSLError as exc:
        raise DownloadError(
            f"The image server's TLS certificate could not be verified for {target.host}."
        ) from exc
    except requests.ConnectionError as exc:
        raise DownloadError("Could not reach the image server; it may be down for a moment.") from exc
    except (requests.RequestException, Urllib3Error) as exc:
        raise DownloadError(f"The image download failed ({type(exc).__name__}).") from exc


def _get(
    url: str,
    target: ImageTarget,
    address: str,
    *,
    max_bytes: int,
    timeout: tuple[float, float],
    deadline: float,
) -> bytes:
    """One GET of ``url`` over a connection to ``address``, with ``Host`` (and TLS) naming ``target.host``."""
    headers = {**HEADERS, "Host": target.netloc}
    with (
        pinned_session(target, address) as session,
        session.get(
            url, stream=True, timeout=timeout, allow_redirects=False, headers=headers, verify=_trusted_cas()
        ) as got,
    ):
        return _receive(got, max_bytes=max_bytes, deadline=deadline, budget=timeout[1])


def pinned_session(target: ImageTarget, address: str) -> requests.Session:
    """A session whose every connection goes to ``address`` (one of ``target``'s checked addresses), with
    no proxy from the environment (it would resolve the name again), no .netrc credentials, and TLS verified
    against the CAs requests would trust. Requests through it must send ``Host: target.netloc`` and not
    follow redirects."""
    session = requests.Session()
    session.trust_env = False
    session.verify = _trusted_cas()
    adapter = _PinnedAdapter(address, target.host)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _receive(response: requests.Response, *, max_bytes: int, deadline: float, budget: float) -> bytes:
    """Check the answer's status and headers, then read its body within the size and time limits."""
    _check_status(response)
    _check_encoding(response)
    declared = _declared_length(response)
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes)
    data = _read_body(response, max_bytes=max_bytes, deadline=deadline, budget=budget)
    if declared is not None and len(data) != declared:
        raise DownloadError(f"The image download was cut short ({len(data)} of {declared} bytes).")
    return data
