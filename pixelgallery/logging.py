"""Structured logs: one JSON object per line, a request id on every record, secrets redacted everywhere.

- ``request_id`` comes from :class:`pixelgallery.middleware.RequestIdMiddleware` in web processes and travels
  with every Celery task queued while it is set (a message header, restored in the worker), so the logs of a
  task carry the id of the request that queued it.
- Records are enriched and their message and traceback redacted when they are *created* (a log record
  factory installed by :class:`pixelgallery.apps.PixelGalleryConfig`), so every handler sees a safe message;
  the handler filters below also redact ``extra=`` values (set after creation) and records made elsewhere
  (``logging.makeLogRecord``).
- Never in a log: the PixelDojo API key and other configured secrets, ``Authorization`` header values, named
  credentials (``api_key=…``, ``"token": "…"``, ``password: …``), and the query strings of signed URLs
  (``X-Amz-Signature=…``, ``Signature=…``).
"""

from __future__ import annotations

import contextvars
import inspect
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied

REDACTED = "[REDACTED]"
REQUEST_ID_HEADER = "pixelgallery_request_id"  # Celery message header carrying the request id

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# Ids known in a Celery task (task_id, task, generation_id, image_id, ...), added to each of its records.
task_context_var: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "task_context", default=None
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values, as text ("Authorization: Bearer x") or reprs ("'Authorization': b'AWS4…'").
    (re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*(?:b?[\"'])?)[^\"'\n]+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+"), rf"\1 {REDACTED}"),
    # The whole query string of a signed URL: it grants access to a private object until it expires.
    (
        re.compile(
            r"(?i)\?[^\s\"'<>?]*?\b(?:x-amz-signature|x-amz-credential|x-amz-security-token|signature"
            r"|awsaccesskeyid)(?:=|%3D)[^\s\"'<>]*"
        ),
        f"?{REDACTED}",
    ),
    # Named credentials as text, JSON or form data: "api_key": "…", token=…, password: ….
    (
        re.compile(
            r"(?i)\b(api[_-]?key|access[_-]?token|token|secret|password)([\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    # Signature parameters outside a URL (a query string on its own, form data, botocore debug lines).
    (
        re.compile(
            r"(?i)\b(x-amz-signature|x-amz-credential|x-amz-security-token|signature)(=|%3D|:\s*)"
            r"[^&\s\"'<>,]+"
        ),
        rf"\1\2{REDACTED}",
    ),
)
MIN_SECRET_LENGTH = 8  # shorter configured values would redact ordinary words


def configured_secrets() -> list[str]:
    """Secret values from the settings that must never be logged, longest first."""
    from django.conf import settings

    if not settings.configured:
        return []
    storage_options = settings.STORAGES.get("default", {}).get("OPTIONS", {})
    values = [
        getattr(settings, "PIXELDOJO_API_KEY", ""),
        getattr(settings, "METRICS_TOKEN", ""),
        storage_options.get("secret_key") or "",
        settings.SECRET_KEY,
    ]
    return sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}, key=len)[::-1]


def redact(text: str) -> str:
    """``text`` with secrets, authorization values and signed query strings replaced by ``[REDACTED]``."""
    for secret in configured_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", (), None)).keys()
    | {"message", "asctime", "taskName", "request_id"}
)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed with ``extra=`` (and the task context), without LogRecord's own attributes."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES}


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record in place: its message and traceback (once), and its string extras (every time: they
    may be added after the record was created)."""
    if getattr(record, "_pixelgallery_redacted", None) is not record.msg:  # new, or its message replaced
        _redact_message(record)
        record._pixelgallery_redacted = record.msg
    for key, value in extra_fields(record).items():
        if isinstance(value, str) and not key.startswith("_"):
            setattr(record, key, redact(value))


def _redact_message(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to logging's own error report
        return
    safe = redact(message)
    if safe != message:
        record.msg, record.args = safe, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def add_context(record: logging.LogRecord) -> None:
    """Add ``request_id`` (always, ``None`` outside a request or task) and the current task's ids."""
    if getattr(record, "request_id", None) is None:
        # Django logs a request's 4xx/5xx answer after the middleware is done: the request knows its id.
        record.request_id = request_id_var.get() or getattr(
            getattr(record, "request", None), "request_id", None
        )
    for key, value in (task_context_var.get() or {}).items():
        if not hasattr(record, key):
            setattr(record, key, value)


class ContextFilter(logging.Filter):
    """Handler filter: request id and task ids on records that did not come through the record factory."""

    def filter(self, record: logging.LogRecord) -> bool:
        add_context(record)
        return True


class RedactingFilter(logging.Filter):
    """Handler filter: no secret, authorization value or signed URL leaves through this handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def quiet_permission_denied(record: logging.LogRecord) -> None:
    """Django's "Forbidden (Permission denied)" record: a warning with the reason, not a traceback.

    A refusal is the code working as meant; its reason (``PermissionDenied``'s message, shown on the 403 page
    too) says all there is to say.
    """
    exc = record.exc_info[1] if record.exc_info else None
    if record.name == "django.request" and isinstance(exc, PermissionDenied):
        record.reason = str(exc)
        record.exc_info = record.exc_text = None


def install_record_factory() -> None:
    """Enrich and redact every record as it is created, whatever handler (Sentry, pytest, …) receives it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_pixelgallery", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        quiet_permission_denied(record)
        add_context(record)
        redact_record(record)
        return record

    factory._pixelgallery = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, task ids, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        add_context(record)
        redact_record(record)
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": record.request_id,
        }
        for key, value in extra_fields(record).items():
            if not key.startswith("_"):
                entry.setdefault(key, value)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=lambda value: redact(str(value)), ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """Human-readable lines for development, with the request id."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        add_context(record)
        redact_record(record)
        return super().format(record)


# --- Celery: the request id travels in a message header and is restored in the worker. ------------------


def attach_request_id(headers: dict | None = None, **_: Any) -> None:
    """``before_task_publish``: copy the current request id (web request or parent task) into the message."""
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


_task_tokens: dict[str, tuple[contextvars.Token, contextvars.Token]] = {}


def task_ids(task: Any, args: Any, kwargs: Any) -> dict[str, Any]:
    """The task's id and name, and its ``*_id`` arguments (``generation_id``, ``image_id``)."""
    context: dict[str, Any] = {"task_id": getattr(task.request, "id", None), "task": task.name}
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
    except (TypeError, ValueError):
        return context
    for name, value in bound.arguments.items():
        if name.endswith("_id") and isinstance(value, int | str):
            context[name] = value
    return context


def restore_request_id(
    task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None, **_: Any
) -> None:
    """``task_prerun``: the request id of whoever queued the task, and the task's ids, for its log records."""
    if task is None or task_id is None:
        return
    request_id = getattr(task.request, REQUEST_ID_HEADER, None) or request_id_var.get()
    _task_tokens[task_id] = (
        request_id_var.set(request_id),
        task_context_var.set(task_ids(task, args, kwargs)),
    )


def clear_request_id(task_id: str | None = None, **_: Any) -> None:
    """``task_postrun``: back to the context the task started in."""
    tokens = _task_tokens.pop(task_id, None) if task_id else None
    if tokens is None:
        return
    try:
        request_id_var.reset(tokens[0])
        task_context_var.reset(tokens[1])
    except ValueError:  # finished in another context than it started in
        request_id_var.set(None)
        task_context_var.set(None)


def celery_setup_logging(**_: Any) -> None:
    """``setup_logging``: workers and beat log through Django's LOGGING (JSON, redacted), not Celery's own."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
