"""Configuration of the PixelDojo sandbox: API keys, retention, latency and fault injection.

Pure stdlib (no Django) so the server can run in-process inside tests.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

DEFAULT_KEY = "sandbox-key"
DEFAULT_RPM = 60
ERROR_STYLES = ("nested", "flat")
IMAGE_HOSTS = ("api", "second")  # image URLs on the host the client called, or on a second name for it
IMAGE_STYLES = ("urls", "objects")  # "images": ["https://…"] as the seed shows, or [{"url", "seed", …}]
CREDITS_STYLES = ("none", "reported")  # a 200 body without, or with credits_used / credits_remaining
RATE_LIMIT_HEADER_STYLES = ("none", "seconds", "epoch")  # X-RateLimit-Reset as a delay or as a Unix time
INVALID_STATUSES = (400, 422)
MODELS = ("flux-pro", "flux-1.1-pro", "flux-1.1-pro-ultra", "flux-dev-single-lora")
DEFAULT_MODEL_COST = 1.0
ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_OUTPUT_MEGAPIXELS = 16.0  # a 4096² picture; PixelDojo's largest outputs (ultra) are about 4 MP
MAX_IMAGE_POOL = 64  # rendered pictures kept in memory (see render.render_png's cache)
JOB_SUBMIT_STYLES = ("flat", "nested")  # POST /models/{apiId}/run answers the job, or {"job": the job}
JOB_OUTPUT_STYLES = ("assets", "images", "output")  # how GET /jobs/{jobId} lists a job's pictures


def _is_number(value: Any) -> bool:
    """A finite int or float (bool is not a number here)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _is_http_url(value: Any) -> bool:
    """An absolute http(s) URL with a host."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _default_model_costs() -> dict[str, float]:
    return {"flux-1.1-pro-ultra": 1.5}  # PixelDojo's catalogue, November 2026; other models cost 1


@dataclass(frozen=True)
class KeyPlan:
    """Plan of one API key: requests per minute and credits it may spend (None = unlimited)."""

    rpm: int = DEFAULT_RPM
    quota: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.rpm, bool) or not isinstance(self.rpm, int) or self.rpm < 1:
            raise ValueError(f"rpm must be a positive integer, got {self.rpm!r}")
        if self.quota is not None and (not _is_number(self.quota) or self.quota < 0):
            raise ValueError(f"quota must be a non-negative number or None, got {self.quota!r}")

    @classmethod
    def coerce(cls, value: KeyPlan | Mapping[str, Any] | int | None) -> KeyPlan:
        """Build a plan from a KeyPlan, a {"rpm", "quota"} mapping, an rpm integer or None (defaults)."""
        if isinstance(value, KeyPlan):
            return value
        if value is None:
            return cls()
        if isinstance(value, Mapping):
            unknown = set(value) - {"rpm", "quota"}
            if unknown:
                raise ValueError(f"unknown key plan field(s): {', '.join(sorted(unknown))}")
            return cls(**value)
        return cls(rpm=value)


@dataclass(frozen=True)
class FaultRates:
    """Probabilities (0..1) of injected faults; the ``*_seconds`` fields are durations.

    server_error / rate_limit / forbidden / slow apply to POST /flux (forbidden: a 403 to a known key,
    nothing made or charged); truncate / corrupt / bomb / expired / slow apply to image downloads (bomb: a
    ~50 KB PNG that decodes to 20000x20000 pixels). slow_seconds is the delay of a "slow" fault.

    The others answer POST /flux with HTTP 200 after the images were made and the credits charged:
    html_200 an HTML page (a proxy's, echoing the request's Authorization header); error_200
    ``{"error": {"code": <error_200_code>, …}}``; extra_url one more (downloadable) image than asked for;
    duplicate_url the first image listed again at the end; truncated_200 the full Content-Length announced,
    half the JSON sent, then the connection closed; drip_200 the JSON sent in small pieces over drip_seconds.
    Precedence when several fire: html_200, then error_200 (no images to add to), then the image-list faults,
    then how the JSON is sent (truncated_200 before drip_200).

    catalogue_error answers the model catalogue (``GET /models``, ``GET /models/{apiId}``) with a 503;
    schema_error only one model's (``GET /models/{apiId}`` and its ``/schema``).

    The job API (``POST /models/{apiId}/run``): server_error / rate_limit answer the run with 500 / 429
    before a job is made (nothing charged), and html_200 / error_200 / truncated_200 / drip_200 spoil its
    200 as for /flux (the job exists and is charged). job_failed decides at submission that the whole job
    ends "failed" (every credit refunded); otherwise asset_failed fails each image on its own (its credits
    refunded; the job stays "completed" unless every image failed). poll_error / poll_rate_limit answer
    ``GET /jobs/{jobId}`` with a 503 / a 429 with ``Retry-After: 1``.
    """

    server_error: float = 0.0
    rate_limit: float = 0.0
    forbidden: float = 0.0
    html_200: float = 0.0
    error_200: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 2.0
    truncate: float = 0.0
    corrupt: float = 0.0
    bomb: float = 0.0
    expired: float = 0.0
    extra_url: float = 0.0
    duplicate_url: float = 0.0
    truncated_200: float = 0.0
    drip_200: float = 0.0
    drip_seconds: float = 5.0
    catalogue_error: float = 0.0
    schema_error: float = 0.0
    job_failed: float = 0.0
    asset_failed: float = 0.0
    poll_error: float = 0.0
    poll_rate_limit: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _is_number(value):
                raise ValueError(f"fault {f.name} must be a finite number, got {value!r}")
            if f.name.endswith("_seconds"):
                if value < 0:
                    raise ValueError(f"{f.name} must be >= 0, got {value!r}")
            elif not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {f.name} must be between 0 and 1, got {value!r}")

    def merged(self, changes: Mapping[str, Any]) -> FaultRates:
        """Return a copy with some rates changed (unknown names raise ValueError)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def parse(cls, text: str) -> FaultRates:
        """Parse "server_error=0.1,truncate=0.05,slow_seconds=3" (unnamed rates stay 0)."""
        changes: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"fault {item!r} must look like name=value")
            try:
                changes[name.strip()] = float(raw)
            except ValueError:
                raise ValueError(f"fault {name.strip()!r} has a non-numeric value {raw!r}") from None
        return cls().merged(changes)


def _default_keys() -> dict[str, KeyPlan]:
    return {DEFAULT_KEY: KeyPlan()}


@dataclass
class SandboxConfig:
    """Behaviour of a sandbox server. Treat instances as immutable; use `updated()` to derive one."""

    keys: dict[str, KeyPlan] = field(default_factory=_default_keys)
    retention_seconds: float = 86400.0
    faults: FaultRates = field(default_factory=FaultRates)
    fault_seed: int | None = None
    error_style: str = "nested"
    image_style: str = "urls"
    image_host: str = "api"
    latency_seconds: float = 0.0
    model_costs: dict[str, float] = field(default_factory=_default_model_costs)
    credits_style: str = "none"
    invalid_status: int = 400
    rate_limit_headers: str = "none"
    error_200_code: str = "server_error"
    output_megapixels: float | None = None  # served pictures' size whatever was asked (None = as asked)
    image_pool: int = 0  # > 0: serve one of this many pictures per shape, each file made unique (benchmarks)
    # True: a generation's outputs are near-duplicates of its first (its layout, shapes nudged a few pixels;
    # render.render_png), as re-rolls of one idea are; False: each output has a layout of its own.
    near_duplicates: bool = False
    job_pending_seconds: float = 0.2  # a job is "pending" this long after its submission,
    job_processing_seconds: float = 0.6  # then "processing" this long, then completed or failed
    job_submit_style: str = "flat"
    job_output_style: str = "assets"
    job_webhook_url: str | None = None  # where the completion webhook of every job is POSTed (None: nowhere)

    def __post_init__(self) -> None:
        self.keys = {str(name): KeyPlan.coerce(plan) for name, plan in dict(self.keys).items()}
        self.model_costs = _validated_costs(self.model_costs)
        if isinstance(self.faults, Mapping):
            self.faults = FaultRates().merged(self.faults)
        if not isinstance(self.faults, FaultRates):
            raise ValueError(f"faults must be FaultRates or a mapping, got {self.faults!r}")
        if self.error_style not in ERROR_STYLES:
            raise ValueError(
                f"error_style must be one of {', '.join(ERROR_STYLES)}, got {self.error_style!r}"
            )
        if self.image_style not in IMAGE_STYLES:
            raise ValueError(
                f"image_style must be one of {', '.join(IMAGE_STYLES)}, got {self.image_style!r}"
            )
        if self.image_host not in IMAGE_HOSTS:
            raise ValueError(f"image_host must be one of {', '.join(IMAGE_HOSTS)}, got {self.image_host!r}")
        if self.credits_style not in CREDITS_STYLES:
            raise ValueError(
                f"credits_style must be one of {', '.join(CREDITS_STYLES)}, got {self.credits_style!r}"
            )
        if self.rate_limit_headers not in RATE_LIMIT_HEADER_STYLES:
            raise ValueError(
                f"rate_limit_headers must be one of {', '.join(RATE_LIMIT_HEADER_STYLES)}, "
                f"got {self.rate_limit_headers!r}"
            )
        if type(self.invalid_status) is not int or self.invalid_status not in INVALID_STATUSES:
            raise ValueError(
                f"invalid_status must be one of {', '.join(map(str, INVALID_STATUSES))}, "
                f"got {self.invalid_status!r}"
            )
        if not isinstance(self.error_200_code, str) or not ERROR_CODE.match(self.error_200_code):
            raise ValueError(
                "error_200_code must be an error code such as server_error or quota_exceeded "
                f"(lowercase letters, digits, underscores), got {self.error_200_code!r}"
            )
        if self.job_submit_style not in JOB_SUBMIT_STYLES:
            raise ValueError(
                f"job_submit_style must be one of {', '.join(JOB_SUBMIT_STYLES)}, "
                f"got {self.job_submit_style!r}"
            )
        if self.job_output_style not in JOB_OUTPUT_STYLES:
            raise ValueError(
                f"job_output_style must be one of {', '.join(JOB_OUTPUT_STYLES)}, "
                f"got {self.job_output_style!r}"
            )
        if self.job_webhook_url is not None and not _is_http_url(self.job_webhook_url):
            raise ValueError(f"job_webhook_url must be an http(s) URL or None, got {self.job_webhook_url!r}")
        for name in ("retention_seconds", "latency_seconds", "job_pending_seconds", "job_processing_seconds"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if self.fault_seed is not None and (
            isinstance(self.fault_seed, bool) or not isinstance(self.fault_seed, int)
        ):
            raise ValueError(f"fault_seed must be an integer or None, got {self.fault_seed!r}")
        if self.output_megapixels is not None and (
            not _is_number(self.output_megapixels) or not 0 < self.output_megapixels <= MAX_OUTPUT_MEGAPIXELS
        ):
            raise ValueError(
                f"output_megapixels must be a number above 0 and at most {MAX_OUTPUT_MEGAPIXELS:g}, "
                f"or None, got {self.output_megapixels!r}"
            )
        if not isinstance(self.near_duplicates, bool):
            raise ValueError(f"near_duplicates must be true or false, got {self.near_duplicates!r}")
        if (
            isinstance(self.image_pool, bool)
            or not isinstance(self.image_pool, int)
            or not 0 <= self.image_pool <= MAX_IMAGE_POOL
        ):
            raise ValueError(
                f"image_pool must be an integer from 0 to {MAX_IMAGE_POOL}, got {self.image_pool!r}"
            )

    def updated(self, **changes: Any) -> SandboxConfig:
        """Return a new config with some fields changed.

        `faults` may be a FaultRates (replaces) or a mapping (merged into the current rates); `keys` replaces
        the key mapping (values: KeyPlan, {"rpm", "quota"} mapping or rpm integer); `model_costs` replaces
        the cost mapping (models left out cost 1).
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        if isinstance(changes.get("faults"), Mapping):
            changes["faults"] = self.faults.merged(changes["faults"])
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable view (used by GET /_sandbox/config)."""
        return {
            "keys": {name: dataclasses.asdict(plan) for name, plan in self.keys.items()},
            "retention_seconds": self.retention_seconds,
            "faults": dataclasses.asdict(self.faults),
            "fault_seed": self.fault_seed,
            "error_style": self.error_style,
            "image_style": self.image_style,
            "image_host": self.image_host,
            "latency_seconds": self.latency_seconds,
            "model_costs": dict(self.model_costs),
            "credits_style": self.credits_style,
            "invalid_status": self.invalid_status,
            "rate_limit_headers": self.rate_limit_headers,
            "error_200_code": self.error_200_code,
            "output_megapixels": self.output_megapixels,
            "image_pool": self.image_pool,
            "near_duplicates": self.near_duplicates,
            "job_pending_seconds": self.job_pending_seconds,
            "job_processing_seconds": self.job_processing_seconds,
            "job_submit_style": self.job_submit_style,
            "job_output_style": self.job_output_style,
            "job_webhook_url": self.job_webhook_url,
        }

    def model_cost(self, model: str) -> float:
        """Credits one image of ``model`` costs."""
        return self.model_costs.get(model, DEFAULT_MODEL_COST)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        """Read the PIXELDOJO_SANDBOX_* variables; raise ValueError on an invalid value.

        PIXELDOJO_SANDBOX_KEYS      comma list of `key`, `key:rpm` or `key:rpm:quota` (sandbox-key is kept
                                    unless redefined; quota may be fractional)
        PIXELDOJO_SANDBOX_RPM       default rpm of keys (60)
        PIXELDOJO_SANDBOX_RETENTION_SECONDS, PIXELDOJO_SANDBOX_LATENCY_SECONDS
        PIXELDOJO_SANDBOX_FAULTS    e.g. `server_error=0.1,truncate=0.05,slow_seconds=3`
        PIXELDOJO_SANDBOX_FAULT_SEED, PIXELDOJO_SANDBOX_ERROR_STYLE (nested | flat),
        PIXELDOJO_SANDBOX_IMAGE_STYLE (urls | objects), PIXELDOJO_SANDBOX_IMAGE_HOST (api | second)
        PIXELDOJO_SANDBOX_MODEL_COSTS  e.g. `flux-1.1-pro-ultra=1.5,flux-pro=2` (replaces the defaults)
        PIXELDOJO_SANDBOX_CREDITS_STYLE (none | reported), PIXELDOJO_SANDBOX_INVALID_STATUS (400 | 422),
        PIXELDOJO_SANDBOX_RATE_LIMIT_HEADERS (none | seconds | epoch), PIXELDOJO_SANDBOX_ERROR_200_CODE
        PIXELDOJO_SANDBOX_OUTPUT_MEGAPIXELS (e.g. 4: every picture that size, whatever was asked),
        PIXELDOJO_SANDBOX_IMAGE_POOL (e.g. 16: pictures rendered once and reused; 0 renders each one)
        PIXELDOJO_SANDBOX_JOB_PENDING_SECONDS (0.2), PIXELDOJO_SANDBOX_JOB_PROCESSING_SECONDS (0.6): how long
                                    a job is "pending", then "processing"
        PIXELDOJO_SANDBOX_JOB_SUBMIT_STYLE (flat | nested), PIXELDOJO_SANDBOX_JOB_OUTPUT_STYLE
        (assets | images | output), PIXELDOJO_SANDBOX_JOB_WEBHOOK_URL (where completion webhooks go)
        PIXELDOJO_SANDBOX_NEAR_DUPLICATES (1: a generation's outputs are near-duplicates of its first)
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"PIXELDOJO_SANDBOX_{name}", "").strip()
            return value or None

        rpm = _parse_number(int, "PIXELDOJO_SANDBOX_RPM", get("RPM")) if get("RPM") else DEFAULT_RPM
        keys = {DEFAULT_KEY: KeyPlan(rpm=rpm)}
        keys.update(_parse_keys(get("KEYS") or "", rpm))
        kwargs: dict[str, Any] = {"keys": keys}
        for name, field_name, kind in (
            ("RETENTION_SECONDS", "retention_seconds", float),
            ("LATENCY_SECONDS", "latency_seconds", float),
            ("FAULT_SEED", "fault_seed", int),
            ("INVALID_STATUS", "invalid_status", int),
            ("OUTPUT_MEGAPIXELS", "output_megapixels", float),
            ("IMAGE_POOL", "image_pool", int),
            ("JOB_PENDING_SECONDS", "job_pending_seconds", float),
            ("JOB_PROCESSING_SECONDS", "job_processing_seconds", float),
        ):
            raw = get(name)
            if raw is not None:
                kwargs[field_name] = _parse_number(kind, f"PIXELDOJO_SANDBOX_{name}", raw)
        if get("FAULTS"):
            kwargs["faults"] = FaultRates.parse(get("FAULTS") or "")
        shapes = (
            "ERROR_STYLE",
            "IMAGE_STYLE",
            "IMAGE_HOST",
            "CREDITS_STYLE",
            "RATE_LIMIT_HEADERS",
            "JOB_SUBMIT_STYLE",
            "JOB_OUTPUT_STYLE",
        )
        for name in (*shapes, "ERROR_200_CODE"):
            raw = get(name)
            if raw is not None:
                kwargs[name.lower()] = raw.lower()
        if get("JOB_WEBHOOK_URL"):
            kwargs["job_webhook_url"] = get("JOB_WEBHOOK_URL")
        if get("MODEL_COSTS"):
            kwargs["model_costs"] = _parse_costs(get("MODEL_COSTS") or "")
        near = get("NEAR_DUPLICATES")
        if near is not None:
            if near.strip().lower() not in ("0", "1", "true", "false"):
                raise ValueError(f"PIXELDOJO_SANDBOX_NEAR_DUPLICATES must be 1 or 0, got {near!r}")
            kwargs["near_duplicates"] = near.strip().lower() in ("1", "true")
        return cls(**kwargs)


def _parse_number(kind: type[int] | type[float], name: str, raw: str | None) -> Any:
    try:
        return kind(raw or "")
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _parse_credits(name: str, raw: str) -> int | float:
    """An amount of credits: an integer if written as one, else a float."""
    try:
        return int(raw)
    except ValueError:
        return _parse_number(float, name, raw)


def _validated_costs(costs: Any) -> dict[str, float]:
    if not isinstance(costs, Mapping):
        raise ValueError(f"model_costs must be a mapping of model to credits per image, got {costs!r}")
    validated: dict[str, float] = {}
    for model, cost in costs.items():
        if model not in MODELS:
            raise ValueError(f"model_costs names unknown model {model!r}; models: {', '.join(MODELS)}")
        if not _is_number(cost) or cost < 0:
            raise ValueError(f"cost of model {model!r} must be a non-negative number, got {cost!r}")
        validated[model] = float(cost)
    return validated


def _parse_costs(text: str) -> dict[str, float]:
    """Parse "flux-1.1-pro-ultra=1.5,flux-pro=2"."""
    costs: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        model, sep, raw = (piece.strip() for piece in item.partition("="))
        if not sep or not model:
            raise ValueError(f"PIXELDOJO_SANDBOX_MODEL_COSTS entry {item!r} must look like model=credits")
        costs[model] = _parse_number(float, f"cost of model {model!r}", raw)
    return costs


def _parse_keys(text: str, default_rpm: int) -> dict[str, KeyPlan]:
    keys: dict[str, KeyPlan] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, *rest = (piece.strip() for piece in item.split(":"))
        if not name or len(rest) > 2:
            raise ValueError(f"PIXELDOJO_SANDBOX_KEYS entry {item!r} must be key, key:rpm or key:rpm:quota")
        rpm = _parse_number(int, f"rpm of key {name!r}", rest[0]) if rest and rest[0] else default_rpm
        quota_text = rest[1] if len(rest) == 2 else ""
        quota = (
            None if quota_text.lower() in ("", "none") else _parse_credits(f"quota of {name!r}", quota_text)
        )
        keys[name] = KeyPlan(rpm=rpm, quota=quota)
    return keys
