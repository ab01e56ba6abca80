"""Sending one signed webhook message: the URL guard, the Standard Webhooks headers, one POST. No ORM.

Rules:

* the URL is ``https`` (plain ``http`` only for a host in ``WEBHOOK_HOSTS_LOOPBACK_OK``, tests only, refused
  by the deploy check) and passes the image downloads' guard: unambiguous, no credentials, every address the
  host resolves to public, and the connection pinned to an address from that one lookup (no DNS rebinding);
* the body is signed as the Standard Webhooks spec says (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the endpoint's secret);
* redirects are not followed (a 3xx is a failed attempt), nothing of the answer's body is read, and the
  whole attempt is bounded by ``WEBHOOK_TIMEOUT_SECONDS``; only a 2xx is a delivery.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from standardwebhooks.webhooks import Webhook
from urllib3.exceptions import NewConnectionError

from generations.downloads import DownloadError, RefusedURL, check_public_url, pinned_session


class WebhookURLRefused(Exception):
    """The URL is not one we send to; the message says why, for the person who entered it."""


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an HTTP status (``None``: no answer) and how long it took."""

    status_code: int | None
    response_ms: int
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return f"msg_{secrets.token_urlsafe(18)}"


def _loopback_ok() -> set[str]:
    return {host.strip().lower() for host in settings.WEBHOOK_HOSTS_LOOPBACK_OK if host.strip()}


def check_url(url: str):
    """Raise ``WebhookURLRefused`` unless ``url`` may receive webhooks; return the checked target."""
    host = (urlsplit(url).hostname or "").lower()
    if urlsplit(url).scheme.lower() != "https" and host not in _loopback_ok():
        raise WebhookURLRefused("Webhook URLs must start with https://.")
    try:
        return check_public_url(url, loopback_ok=_loopback_ok())
    except RefusedURL as exc:
        if "private address" in str(exc):
            refusal = f"{host} resolves to a private address; webhooks go to public ones."
        else:
            refusal = "That URL cannot be used: give a plain https:// URL without credentials."
        raise WebhookURLRefused(refusal) from exc
    except DownloadError as exc:
        raise WebhookURLRefused(f"Could not look up {host}.") from exc


def signed_headers(*, secret: str, message_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed now (or ``at``)."""
    at = at or datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


def send(*, url: str, secret: str, message_id: str, body: str) -> Outcome:
    """POST ``body`` to ``url`` once, signed; never raises for what the receiver or network did."""
    started = time.monotonic()

    def outcome(status_code: int | None, error: str = "") -> Outcome:
        return Outcome(status_code, round((time.monotonic() - started) * 1000), error[:300])

    try:
        target = check_url(url)
    except WebhookURLRefused as exc:
        return outcome(None, str(exc))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "PixelGallery-Webhooks/1",
        "Host": target.netloc,
        **signed_headers(secret=secret, message_id=message_id, body=body),
    }
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    try:
        status = _post(url, target, headers=headers, body=body, timeout=timeout)
    except requests.Timeout:
        return outcome(None, f"No answer within {timeout:g} s.")
    except requests.exceptions.SSLError:
        return outcome(None, f"The TLS certificate of {target.host} could not be verified.")
    except requests.RequestException as exc:
        return outcome(None, f"Could not connect ({type(exc).__name__}).")
    if 300 <= status < 400:
        return outcome(status, "Redirects are not followed.")
    return outcome(status, "" if 200 <= status < 300 else f"HTTP {status}.")


def _post(url: str, target, *, headers: dict[str, str], body: str, timeout: float) -> int:
    """POST to the checked addresses in turn while none accepts the connection; the answer's status."""
    for address in target.addresses:
        try:
            with (
                pinned_session(target, address) as session,
                session.post(
                    url,
                    data=body.encode(),
                    headers=headers,
                    timeout=(timeout, timeout),
                    allow_redirects=False,
                    stream=True,
                ) as response,
            ):
                return response.status_code
        except requests.ConnectionError as exc:
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            refused = isinstance(exc, requests.ConnectTimeout) or isinstance(reason, NewConnectionError)
            if address == target.addresses[-1] or not refused:  # something may have been sent: no retry
                raise
    raise AssertionError("unreachable: a checked target has at least one address")
