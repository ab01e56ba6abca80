"""PixelDojo API client: typed request/response, documented error codes mapped to exceptions.

The client makes exactly one HTTP call per ``generate``; retry policy (back-off, the attempt bound, the quota
pause) belongs to the caller, ``generations/services/calling.py``, which knows whether a retry is safe; the
Celery task only schedules the next run when that service asks. Every exception carries a message a person
understands.

A 2xx is money spent: whatever its body, the answer (capped, secrets redacted) travels with the result or
the exception (``raw_answer``), and an exception raised after a 2xx is never retryable (``answered``). Bodies
seen in the field: images as URLs or as ``{"url", "seed", …}`` objects, HTML pages, ``{"error": …}``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from generations.ratelimit import ProviderLimit
from pixelgallery.logging import REDACTED, redact

logger = logging.getLogger(__name__)

# The catalogue: what PixelDojo offers, with the labels people see. Forms and filters import it from here.
MODEL_LABELS: dict[str, str] = {
    "flux-pro": "FLUX Pro — standard high quality",
    "flux-1.1-pro": "FLUX 1.1 Pro — improved detail and coherence",
    "flux-1.1-pro-ultra": "FLUX 1.1 Pro Ultra — premium quality",
    "flux-dev-single-lora": "FLUX Dev + LoRA — your own LoRA weights",
}
MODELS: tuple[str, ...] = tuple(MODEL_LABELS)
LORA_MODEL = "flux-dev-single-lora"
ASPECT_RATIOS: tuple[str, ...] = (
    "1:1",
    "16:9",
    "9:16",
    "4:3",
    "3:4",
    "3:2",
    "2:3",
    "21:9",
    "9:21",
    "4:5",
    "5:4",
)
MEGAPIXEL_LABELS: dict[str, str] = {"1": "1 MP (full)", "0.25": "0.25 MP (draft)"}
MEGAPIXELS: tuple[str, ...] = tuple(MEGAPIXEL_LABELS)
MAX_OUTPUTS = 4
MAX_RAW_ANSWER = 64 * 1024  # characters of a 2xx body kept for operators


@dataclass(frozen=True)
class GenerationRequest:
    """The documented ``POST /flux`` parameters; ``None`` means "not set, let PixelDojo default it"."""

    prompt: str
    model: str
    aspect_ratio: str | None = None
    num_outputs: int | None = None
    seed: int | None = None
    lora_weights: str | None = None
    lora_scale: float | None = None
    megapixels: str | None = None
    go_fast: bool | None = None

    def to_payload(self) -> dict[str, Any]:
        """JSON body with only the parameters that are set."""
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class GenerationResult:
    """A successful answer of ``POST /flux``.

    ``images`` are the URLs, in order. PixelDojo sends them as strings (the documented shape) or as objects
    ``{"url", "seed", "width", "height", …}``; what an object says besides its URL is in ``image_details``
    (one dict per image, empty for a plain URL).
    """

    id: str
    created: datetime
    images: tuple[str, ...]
    model: str
    prompt: str
    extra: dict[str, Any] = field(default_factory=dict)
    image_details: tuple[dict[str, Any], ...] = ()
    raw_answer: str = ""  # the body as received (capped, secrets redacted), kept for operators
    rate_limit: ProviderLimit | None = None  # PixelDojo's X-RateLimit-* headers, when it sent them


class PixelDojoError(Exception):
    """Base class: ``code`` is PixelDojo's error code, ``str(exc)`` a sentence for people."""

    code = "error"
    retryable = False
    default_message = "PixelDojo could not generate the image."

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: str = "",
        status: int | None = None,
        raw_answer: str | None = None,
        rate_limit: ProviderLimit | None = None,
    ) -> None:
        self.detail = detail
        self.status = status
        self.rate_limit = rate_limit  # PixelDojo's X-RateLimit-* headers, when it answered with them
        # Set when PixelDojo answered 2xx (it may have charged): never to be asked again, whatever the class.
        self.raw_answer = raw_answer
        if raw_answer is not None:
            self.retryable = False
        super().__init__(message or self.default_message)

    @property
    def answered(self) -> bool:
        """PixelDojo answered with a 2xx: the generation may have been paid for."""
        return self.raw_answer is not None


class InvalidApiKey(PixelDojoError):
    code = "invalid_api_key"
    default_message = "PixelDojo rejected the API key. An administrator needs to check PIXELDOJO_API_KEY."


class InvalidRequest(PixelDojoError):
    code = "invalid_request"
    default_message = "PixelDojo rejected the request parameters."


class ModelNotFound(PixelDojoError):
    code = "model_not_found"
    default_message = "PixelDojo does not know this model. Pick another model and try again."


class QuotaExceeded(PixelDojoError):
    code = "quota_exceeded"
    default_message = (
        "The PixelDojo account has run out of credits. Generation resumes once the plan is topped up "
        "or renewed."
    )


class ServerError(PixelDojoError):
    code = "server_error"
    retryable = True
    default_message = "PixelDojo had an internal error. The request will be tried again."


class RateLimited(PixelDojoError):
    code = "rate_limited"
    retryable = True
    default_message = "PixelDojo is busy (too many requests per minute). The request will be tried again."

    def __init__(self, message: str | None = None, *, retry_after: float = 60.0, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class NetworkError(PixelDojoError):
    code = "network_error"
    retryable = True
    default_message = "PixelDojo could not be reached (network error or timeout). It will be tried again."


class UnexpectedResponse(PixelDojoError):
    """A 2xx whose body could not be read: PixelDojo may have charged for it, so it is never asked again."""

    code = "unexpected_response"
    retryable = False
    default_message = (
        "PixelDojo answered but the answer could not be read; it may have charged your account. "
        "It was not sent again; an operator can see the answer on the operations page."
    )


ERRORS_BY_CODE: dict[str, type[PixelDojoError]] = {
    cls.code: cls for cls in (InvalidApiKey, InvalidRequest, ModelNotFound, QuotaExceeded, ServerError)
}


def parse_error_body(body: Any) -> tuple[str | None, str]:
    """(code, message) from `{"error": "code", "message": m}` or `{"error": {"code": c, "message": m}}`."""
    if not isinstance(body, dict):
        return None, ""
    error = body.get("error")
    if isinstance(error, dict):
        return _str_or_none(error.get("code")), str(error.get("message") or "")
    return _str_or_none(error), str(body.get("message") or "")


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _retry_after_seconds(response: requests.Response) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(1.0, float(raw))
    except ValueError:
        return 60.0


def error_for_response(response: requests.Response) -> PixelDojoError:
    """Map a non-2xx answer to the matching exception."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code, detail = parse_error_body(body)
    status = response.status_code
    if status == 429 or code in {"rate_limit_exceeded", "rate_limited"}:
        return RateLimited(retry_after=_retry_after_seconds(response), detail=detail, status=status)
    if code in ERRORS_BY_CODE:
        cls = ERRORS_BY_CODE[code]
        message = f"PixelDojo rejected the request: {detail}" if cls is InvalidRequest and detail else None
        return cls(message, detail=detail, status=status)
    if status in (401, 403):
        return InvalidApiKey(detail=detail, status=status)
    if status >= 500:
        return ServerError(detail=detail, status=status)
    return InvalidRequest(
        f"PixelDojo refused the request (HTTP {status}){': ' + detail if detail else ''}.",
        detail=detail,
        status=status,
    )


def error_in_answer(
    body: dict[str, Any], *, raw_answer: str, rate_limit: ProviderLimit | None = None
) -> PixelDojoError:
    """``{"error": …}`` inside a 2xx: the error it names, final (PixelDojo may have charged for the call)."""
    code, detail = parse_error_body(body)
    cls = ERRORS_BY_CODE.get(code or "", UnexpectedResponse)
    message = (
        f"PixelDojo answered with an error ({cls.code}) instead of images; it may have charged your account. "
        "It was not sent again."
    )
    return cls(message, detail=detail, raw_answer=raw_answer, rate_limit=rate_limit)


def parse_result(body: Any) -> GenerationResult:
    """Validate the success body and turn it into a ``GenerationResult``."""
    try:
        images = body["images"]
        if not isinstance(images, list):
            raise TypeError("images must be a list")
        urls, details = zip(*map(_image_url_and_details, images), strict=True) if images else ((), ())
        created = datetime.fromtimestamp(int(body["created"]), tz=UTC)
        known = {"id", "created", "images", "model", "prompt"}
        return GenerationResult(
            id=str(body["id"]),
            created=created,
            images=tuple(urls),
            model=str(body["model"]),
            prompt=str(body["prompt"]),
            extra={key: value for key, value in body.items() if key not in known},
            image_details=tuple(details),
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise UnexpectedResponse(detail=str(exc)) from exc


def _image_url_and_details(image: Any) -> tuple[str, dict[str, Any]]:
    """One entry of ``images``: a URL string, or an object with a ``url`` and more about the image."""
    if isinstance(image, str) and image:
        return image, {}
    if isinstance(image, dict) and isinstance(image.get("url"), str) and image["url"]:
        return image["url"], {key: value for key, value in image.items() if key != "url"}
    raise TypeError("each image must be a URL or an object with a url")


class PixelDojoClient:
    """One ``requests.Session`` per client; one HTTP call per ``generate``."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = (connect_timeout, read_timeout)
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "PixelGallery/0.1"})

    def __repr__(self) -> str:  # never show the key
        return f"PixelDojoClient(base_url={self.base_url!r})"

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Ask PixelDojo for images; raise a ``PixelDojoError`` subclass on any failure."""
        try:
            response = self.session.post(
                f"{self.base_url}/flux",
                json=request.to_payload(),
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise NetworkError(
                "PixelDojo did not answer in time. It will be tried again.", detail=type(exc).__name__
            ) from exc
        except requests.RequestException as exc:
            raise NetworkError(detail=type(exc).__name__) from exc
        rate_limit = ProviderLimit.from_headers(response.headers)
        if not 200 <= response.status_code < 300:
            error = error_for_response(response)
            error.rate_limit = rate_limit
            logger.info("PixelDojo answered HTTP %s (%s)", response.status_code, error.code)
            raise error
        raw = self._answer_text(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise UnexpectedResponse(
                detail="body is not JSON", raw_answer=raw, rate_limit=rate_limit
            ) from exc
        if isinstance(body, dict) and body.get("error"):
            raise error_in_answer(body, raw_answer=raw, rate_limit=rate_limit)
        try:
            result = parse_result(body)
        except UnexpectedResponse as exc:
            raise UnexpectedResponse(detail=exc.detail, raw_answer=raw, rate_limit=rate_limit) from exc
        return dataclasses.replace(result, raw_answer=raw, rate_limit=rate_limit)

    def _answer_text(self, response: requests.Response) -> str:
        """The answer's body for operators: at most ``MAX_RAW_ANSWER`` characters, secrets redacted."""
        text = response.content[:MAX_RAW_ANSWER].decode("utf-8", errors="replace")
        if self._api_key:
            text = text.replace(self._api_key, REDACTED)
        return redact(text)


def client_from_settings() -> PixelDojoClient:
    """The client configured by ``PIXELDOJO_*`` settings (the sandbox when no API key is set)."""
    from django.conf import settings

    return PixelDojoClient(
        base_url=settings.PIXELDOJO_BASE_URL,
        api_key=settings.PIXELDOJO_API_KEY,
        connect_timeout=settings.PIXELDOJO_CONNECT_TIMEOUT,
        read_timeout=settings.PIXELDOJO_READ_TIMEOUT,
    )
