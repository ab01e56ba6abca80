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
import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests
import urllib3

from credits.amounts import reported
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
DEFAULT_MODEL_COST = Decimal(1)  # credits per image of a model PIXELDOJO_MODEL_COSTS does not name
MAX_RAW_ANSWER = 64 * 1024  # characters of a 2xx body kept for operators
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a longer answer is not read (a JSON list of 4 images is a few KB)


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
    created: datetime | None
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
QUOTA_CODES = frozenset({"quota_exceeded", "insufficient_credits", "payment_required"})


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


# Words that look like credentials: long runs of letters and digits mixing both (API keys, tokens, hashes).
_KEY_LIKE = re.compile(r"(?<![A-Za-z0-9_\-])(?=[A-Za-z_\-]*[0-9])(?=[0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{20,}")
MAX_PROVIDER_TEXT = 300


def provider_text(text: str, *, secret: str = "") -> str:
    """Text PixelDojo wrote, made safe to show inside one of our sentences: one line, at most
    ``MAX_PROVIDER_TEXT`` characters, with the key, bearer tokens and anything that looks like a credential
    replaced by ``[REDACTED]``."""
    text = " ".join(str(text).split())
    if secret:
        text = text.replace(secret, REDACTED)
    text = _KEY_LIKE.sub(REDACTED, redact(text))
    return text if len(text) <= MAX_PROVIDER_TEXT else text[: MAX_PROVIDER_TEXT - 1] + "…"


def error_for_response(response: requests.Response, body: bytes = b"", *, secret: str = "") -> PixelDojoError:
    """Map a non-2xx answer (status, headers, the body read so far) to the matching exception."""
    try:
        decoded = json.loads(body) if body else None
    except ValueError:
        decoded = None
    code, detail = parse_error_body(decoded)
    detail = provider_text(detail, secret=secret)
    status = response.status_code
    if status == 429 or code in {"rate_limit_exceeded", "rate_limited"}:
        return RateLimited(retry_after=_retry_after_seconds(response), detail=detail, status=status)
    if status == 402 or code in QUOTA_CODES:
        return QuotaExceeded(detail=detail, status=status)
    if status in (401, 403) or code == InvalidApiKey.code:
        return InvalidApiKey(detail=detail, status=status)
    if code in ERRORS_BY_CODE and ERRORS_BY_CODE[code] is not InvalidRequest:
        return ERRORS_BY_CODE[code](detail=detail, status=status)
    if status >= 500:
        return ServerError(detail=detail, status=status)
    reason = f": {detail}" if detail else "."
    if status == 422:
        return InvalidRequest(f"PixelDojo found the request invalid{reason}", detail=detail, status=status)
    return InvalidRequest(
        f"PixelDojo refused the request (HTTP {status}){reason}", detail=detail, status=status
    )


def error_in_answer(
    body: dict[str, Any], *, raw_answer: str, rate_limit: ProviderLimit | None = None
) -> PixelDojoError:
    """``{"error": …}`` inside a 2xx: the error it names, final (PixelDojo may have charged for the call)."""
    code, detail = parse_error_body(body)
    cls = QuotaExceeded if code in QUOTA_CODES else ERRORS_BY_CODE.get(code or "", UnexpectedResponse)
    detail = provider_text(detail)
    said = f" ({cls.code}: “{detail}”)" if detail else f" ({cls.code})"
    message = (
        f"PixelDojo answered with an error{said} instead of images; it may have charged your account. "
        "It was not sent again."
    )
    return cls(message, detail=detail, raw_answer=raw_answer, rate_limit=rate_limit)


def parse_result(body: Any, *, request: GenerationRequest | None = None) -> GenerationResult:
    """Read a success body tolerantly: only ``images`` is required (a list of URLs or ``{"url", …}``
    objects); a missing or odd ``id``, ``created``, ``model`` or ``prompt`` falls back to what was asked."""
    try:
        if not isinstance(body, dict):
            raise TypeError("the answer is not a JSON object")
        images = body["images"]
        if not isinstance(images, list):
            raise TypeError("images must be a list")
        urls, details = zip(*map(_image_url_and_details, images), strict=True) if images else ((), ())
    except (KeyError, TypeError, ValueError) as exc:
        raise UnexpectedResponse(detail=str(exc)) from exc
    known = {"id", "created", "images", "model", "prompt"}
    return GenerationResult(
        id=str(body.get("id") or "")[:128],
        created=_timestamp(body.get("created")),
        images=tuple(urls),
        model=str(body.get("model") or (request.model if request else "")),
        prompt=str(body.get("prompt") or (request.prompt if request else "")),
        extra={key: value for key, value in body.items() if key not in known},
        image_details=tuple(details),
    )


def _timestamp(value: Any) -> datetime | None:
    """A Unix time PixelDojo sent, or None when it is missing or not a plausible time."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _image_url_and_details(image: Any) -> tuple[str, dict[str, Any]]:
    """One entry of ``images``: a URL string, or an object with a ``url`` and more about the image."""
    if isinstance(image, str) and image:
        return image, {}
    if isinstance(image, dict) and isinstance(image.get("url"), str) and image["url"]:
        return image["url"], {key: value for key, value in image.items() if key != "url"}
    raise TypeError("each image must be a URL or an object with a url")


JOB_STATUSES = {
    "pending": ("pending", "queued", "submitted", "starting", "created", "waiting"),
    "processing": ("processing", "running", "in_progress", "started", "generating"),
    "completed": ("completed", "succeeded", "success", "done", "finished", "complete"),
    "failed": ("failed", "error", "errored", "canceled", "cancelled", "expired", "rejected"),
}
TERMINAL_JOB_STATUSES = ("completed", "failed")
_JOB_STATUS_OF = {spelling: status for status, spellings in JOB_STATUSES.items() for spelling in spellings}


@dataclass(frozen=True)
class JobSubmission:
    """PixelDojo accepted a job (``POST /models/{apiId}/run`` answered 2xx): money committed."""

    id: str
    status: str
    credits: Decimal | None  # what PixelDojo said the job costs, when it said
    raw_answer: str = ""
    rate_limit: ProviderLimit | None = None


@dataclass(frozen=True)
class JobState:
    """A job as ``GET /jobs/{jobId}`` reported it.

    ``status`` is one of pending, processing, completed, failed (PixelDojo's other spellings mapped;
    an unknown one reads as processing, so it is polled again). ``outputs`` are the images made, as
    (URL, what was said about it); ``failed_assets`` how many asked-for images failed.
    """

    id: str
    status: str
    outputs: tuple[tuple[str, dict[str, Any]], ...] = ()
    failed_assets: int = 0
    credits_used: Decimal | None = None
    credits_refunded: Decimal | None = None
    error: str = ""

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES


def job_status_of(value: Any) -> str | None:
    """PixelDojo's job status in our four words, None when it is missing or unknown."""
    return _JOB_STATUS_OF.get(str(value).strip().lower()) if isinstance(value, str) else None


def _job_object(body: Any) -> dict[str, Any]:
    """The job inside an answer: the body itself, or ``{"job": {...}}`` / ``{"data": {...}}``."""
    if not isinstance(body, dict):
        return {}
    for wrapper in ("job", "data"):
        if isinstance(body.get(wrapper), dict):
            return body[wrapper]
    return body


def _job_id(job: dict[str, Any]) -> str:
    for name in ("jobId", "job_id", "id"):
        value = job.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()[:128]
    return ""


def reported_credits(body: dict[str, Any], *names: str) -> Decimal | None:
    """The first of ``names`` that holds a usable amount of credits (``credits.amounts.reported``)."""
    for name in names:
        if (amount := reported(body.get(name))) is not None:
            return amount
    return None


def _asset_failed(asset: dict[str, Any]) -> bool:
    return job_status_of(asset.get("status")) == "failed" or bool(asset.get("error"))


def _job_outputs(job: dict[str, Any]) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """The images a job made and how many of its assets failed: from ``assets`` (the SDK's
    ``job.assets[0].url``), else ``images``, else ``output`` (a URL, or a list of URLs or objects)."""
    entries = job.get("assets")
    if not isinstance(entries, list):
        entries = job.get("images")
    if not isinstance(entries, list):
        entries = job.get("output")
        entries = [entries] if isinstance(entries, str | dict) else entries
    if not isinstance(entries, list):
        return [], 0
    outputs: list[tuple[str, dict[str, Any]]] = []
    failed = 0
    for entry in entries:
        if isinstance(entry, str) and entry.strip():
            outputs.append((entry.strip(), {}))
        elif isinstance(entry, dict) and not _asset_failed(entry):
            url = entry.get("url")
            if isinstance(url, str) and url.strip():
                about = {k: v for k, v in entry.items() if k not in ("url", "status", "error")}
                outputs.append((url.strip(), about))
            else:
                failed += 1
        else:
            failed += 1
    return outputs, failed


def parse_job(body: Any) -> JobState:
    """Read a job tolerantly; only its status is needed. Outputs count only once it is completed."""
    job = _job_object(body)
    if not job:
        raise UnexpectedResponse(detail="the job is not a JSON object")
    status = job_status_of(job.get("status")) or "processing"
    outputs, failed = _job_outputs(job) if status == "completed" else ([], 0)
    error = job.get("error")
    if isinstance(error, dict):
        error = error.get("message") or error.get("code") or ""
    return JobState(
        id=_job_id(job),
        status=status,
        outputs=tuple(outputs),
        failed_assets=failed,
        credits_used=reported_credits(job, "creditsUsed", "credits_used"),
        credits_refunded=reported_credits(job, "creditsRefunded", "credits_refunded"),
        error=provider_text(error) if isinstance(error, str) else "",
    )


class PixelDojoClient:
    """One ``requests.Session`` per client; one HTTP call per method."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        deadline: float = 150.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = (connect_timeout, read_timeout)
        self.deadline = deadline  # seconds for the whole call, connecting and the whole answer included
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "PixelGallery/0.1"})

    def __repr__(self) -> str:  # never show the key
        return f"PixelDojoClient(base_url={self.base_url!r})"

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Ask PixelDojo for images (``POST /flux``); raise a ``PixelDojoError`` subclass on any failure.

        The whole call (connect, wait, body) ends within ``deadline`` seconds: a body still arriving then is
        cut and, being a 2xx, fails as unreadable instead of being asked again.
        """
        decoded, raw, rate_limit = self._post_paid("/flux", request.to_payload())
        try:
            result = parse_result(decoded, request=request)
        except UnexpectedResponse as exc:
            raise UnexpectedResponse(detail=exc.detail, raw_answer=raw, rate_limit=rate_limit) from exc
        return dataclasses.replace(result, raw_answer=raw, rate_limit=rate_limit)

    def run_job(self, api_id: str, payload: dict[str, Any]) -> JobSubmission:
        """Submit a job for a catalogue model (``POST /models/{apiId}/run``); it answers at once with the
        job's id. A 2xx without a readable id raises an ``answered`` ``UnexpectedResponse``."""
        decoded, raw, rate_limit = self._post_paid(f"/models/{quote(api_id, safe='')}/run", payload)
        job = _job_object(decoded)
        job_id = _job_id(job)
        if not job_id:
            raise UnexpectedResponse(detail="the answer has no job id", raw_answer=raw, rate_limit=rate_limit)
        return JobSubmission(
            id=job_id,
            status=job_status_of(job.get("status")) or "pending",
            credits=reported_credits(job, "creditCost", "credits_used", "creditsUsed", "cost"),
            raw_answer=raw,
            rate_limit=rate_limit,
        )

    def get_job(self, job_id: str) -> JobState:
        """``GET /jobs/{jobId}``: the job's status and outputs, read tolerantly (``parse_job``)."""
        body = self._get_json(f"/jobs/{quote(job_id, safe='')}")
        return parse_job(body)

    def _post_paid(self, path: str, payload: dict[str, Any]) -> tuple[Any, str, ProviderLimit | None]:
        """One POST that may cost money: the decoded 2xx body, the body for operators, the rate-limit
        headers. A non-2xx raises its error; a 2xx that is cut, not JSON or ``{"error": …}`` raises with
        ``raw_answer`` set (answered: never to be sent again)."""
        started = time.monotonic()
        try:
            response = self.session.post(
                f"{self.base_url}{path}",
                json=payload,
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=(min(self.timeout[0], self.deadline), min(self.timeout[1], self.deadline)),
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout as exc:
            raise NetworkError(
                "PixelDojo did not answer in time. It will be tried again.", detail=type(exc).__name__
            ) from exc
        except requests.RequestException as exc:
            raise NetworkError(detail=type(exc).__name__) from exc
        rate_limit = ProviderLimit.from_headers(response.headers)
        with response:
            body, cut = _read_body(response, until=started + self.deadline)
        if not 200 <= response.status_code < 300:
            error = error_for_response(response, body, secret=self._api_key)
            error.rate_limit = rate_limit
            logger.info("PixelDojo answered HTTP %s (%s)", response.status_code, error.code)
            raise error
        raw = self._answer_text(body)
        if cut:
            raise UnexpectedResponse(detail=cut, raw_answer=raw, rate_limit=rate_limit)
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise UnexpectedResponse(
                detail="body is not JSON", raw_answer=raw, rate_limit=rate_limit
            ) from exc
        if isinstance(decoded, dict) and decoded.get("error"):
            raise error_in_answer(decoded, raw_answer=raw, rate_limit=rate_limit)
        return decoded, raw, rate_limit

    def list_models(self) -> list[dict[str, Any]]:
        """``GET /models?detailed=true``: every model PixelDojo lists (image and video), as sent.

        Read tolerantly: ``{"models": [...]}``, ``{"data": [...]}`` or a bare list; entries that are not
        objects are dropped.
        """
        body = self._get_json("/models", params={"detailed": "true"})
        models = body.get("models", body.get("data")) if isinstance(body, dict) else body
        if not isinstance(models, list):
            raise UnexpectedResponse(detail="the model list has no models array")
        return [model for model in models if isinstance(model, dict)]

    def get_model(self, api_id: str) -> dict[str, Any]:
        """``GET /models/{apiId}``: one model with its ``requestSchema`` (``{"model": {...}}`` read too)."""
        body = self._get_json(f"/models/{quote(api_id, safe='')}")
        model = body.get("model", body.get("data", body)) if isinstance(body, dict) else None
        if not isinstance(model, dict):
            raise UnexpectedResponse(detail="the model is not a JSON object")
        return model

    def _get_json(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        """One GET of a read-only endpoint, decoded; a ``PixelDojoError`` on any failure (all retryable or
        harmless: nothing is spent by reading)."""
        started = time.monotonic()
        try:
            response = self.session.get(
                f"{self.base_url}{path}",
                params=params,
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=(min(self.timeout[0], self.deadline), min(self.timeout[1], self.deadline)),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            raise NetworkError(detail=type(exc).__name__) from exc
        with response:
            body, cut = _read_body(response, until=started + self.deadline)
        if not 200 <= response.status_code < 300:
            raise error_for_response(response, body, secret=self._api_key)
        if cut:
            raise NetworkError(f"PixelDojo's answer to GET {path} was incomplete: {cut}.", detail=cut)
        try:
            return json.loads(body)
        except ValueError as exc:
            raise UnexpectedResponse(
                f"PixelDojo's answer to GET {path} is not JSON.", detail="body is not JSON"
            ) from exc

    def _answer_text(self, body: bytes) -> str:
        """The answer's body for operators: at most ``MAX_RAW_ANSWER`` characters, secrets redacted."""
        text = body[:MAX_RAW_ANSWER].decode("utf-8", errors="replace")
        if self._api_key:
            text = text.replace(self._api_key, REDACTED)
        return redact(text)


def _read_body(response: requests.Response, *, until: float) -> tuple[bytes, str]:
    """The body as it arrives until it ends, ``MAX_ANSWER_BYTES`` or the monotonic time ``until``.

    Returns the bytes and, when it stopped early, why (empty when the body is complete). Each socket read is
    bounded by the time left, so a body that drips in slowly cannot outlive the deadline.
    """
    chunks: list[bytes] = []
    size = 0
    sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
    try:
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return b"".join(chunks), "the answer was still arriving when the call's deadline passed"
            if sock is not None:
                sock.settimeout(left)
            chunk = response.raw.read1(65536)
            if not chunk:
                return b"".join(chunks), ""
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                return b"".join(chunks), f"the answer was larger than {MAX_ANSWER_BYTES // 1024} KB"
    except (OSError, urllib3.exceptions.HTTPError, requests.RequestException) as exc:
        if time.monotonic() >= until - 0.01:  # the last read ran into the deadline
            return b"".join(chunks), "the answer was still arriving when the call's deadline passed"
        return b"".join(chunks), f"the answer was cut off ({type(exc).__name__})"


def model_cost(model: str) -> Decimal:
    """Credits one image of ``model`` costs: ``PIXELDOJO_MODEL_COSTS``, else ``DEFAULT_MODEL_COST``."""
    from django.conf import settings

    return settings.PIXELDOJO_MODEL_COSTS.get(model, DEFAULT_MODEL_COST)


def client_from_settings() -> PixelDojoClient:
    """The client configured by ``PIXELDOJO_*`` settings (the sandbox when no API key is set)."""
    from django.conf import settings

    return PixelDojoClient(
        base_url=settings.PIXELDOJO_BASE_URL,
        api_key=settings.PIXELDOJO_API_KEY,
        connect_timeout=settings.PIXELDOJO_CONNECT_TIMEOUT,
        read_timeout=settings.PIXELDOJO_READ_TIMEOUT,
        deadline=settings.PIXELDOJO_CALL_DEADLINE_SECONDS,
    )
