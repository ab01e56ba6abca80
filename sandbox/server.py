"""A local HTTP server speaking the PixelDojo API contract (POST /flux, GET /generated/<token>_<n>.png).

Pure stdlib + Pillow so tests can run it in-process on an ephemeral port::

    server = SandboxServer(port=0).start()
    requests.post(f"{server.base_url}/flux", headers={"Authorization": "Bearer sandbox-key"}, json={...})
    server.stop()

The job API (``POST /models/{apiId}/run``, ``GET /jobs/{jobId}``, ``GET /jobs``,
``POST /jobs/{jobId}/webhook/replay``) runs catalogue models: a job is "pending", then "processing", then
"completed" or "failed" by the sandbox's clock, with images on the same ``/generated/`` URLs and an optional
completion webhook (``job_webhook_url``).

Control endpoints (no auth, meant for loopback): GET/POST /_sandbox/config, POST /_sandbox/reset,
GET /_sandbox/stats, POST /_sandbox/clock ``{"advance": seconds}``.

Answer shapes seen in the field are chosen by the config (see ``SandboxConfig``): images as URLs or objects,
on the host the client called or on a second name for this server (``image_host="second"``: ``localhost``
when called at 127.0.0.1 or any other name, ``127.0.0.1`` when called at ``localhost``, as PixelDojo serves
images from ``temp.pixeldojo.ai`` beside ``pixeldojo.ai``), credits reported in the body, 400 or 422 for
invalid requests, X-RateLimit-* headers, and faults.

The sandbox keeps its own clock (real time plus an offset that only moves forward), so tests can let
"24 hours" or a rate-limit window pass without sleeping.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import html
import json
import logging
import math
import random
import re
import secrets
import socket
import socketserver
import string
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPException
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from sandbox import catalogue
from sandbox.config import MODELS, KeyPlan, SandboxConfig
from sandbox.render import ASPECT_RATIOS, MEGAPIXELS, bomb_png, image_size, render_png, with_text

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
LORA_MODEL = "flux-dev-single-lora"
MAX_PROMPT_LENGTH = 2000
MAX_BODY_BYTES = 1024 * 1024
RATE_WINDOW_SECONDS = 60.0
MAX_GENERATIONS = 100_000
MAX_REQUEST_TIMES = 10_000
MAX_JOBS = 100_000
MAX_WEBHOOK_RECORDS = 10_000
JOBS_LISTED = 50  # GET /jobs lists at most this many, newest first
WEBHOOK_TIMEOUT_SECONDS = 5.0
TERMINAL_STATUSES = frozenset({"completed", "failed"})
DRIP_INTERVAL_SECONDS = 0.1  # gap between the pieces of a drip_200 body
ALLOWED_FIELDS = frozenset(
    {
        "prompt",
        "model",
        "aspect_ratio",
        "num_outputs",
        "seed",
        "lora_weights",
        "lora_scale",
        "megapixels",
        "go_fast",
    }
)
FLUX_PATHS = frozenset({f"{API_PREFIX}/flux", "/flux"})
MODELS_PATH = re.compile(rf"^(?:{API_PREFIX})?/models(?:/(?P<api_id>[A-Za-z0-9._\-]+)(?P<schema>/schema)?)?$")
RUN_PATH = re.compile(rf"^(?:{API_PREFIX})?/models/(?P<api_id>[A-Za-z0-9._\-]+)/run$")
JOBS_PATH = re.compile(
    rf"^(?:{API_PREFIX})?/jobs(?:/(?P<job_id>[A-Za-z0-9_\-]+)(?P<replay>/webhook/replay)?)?$"
)
IMAGE_PATH = re.compile(r"^/generated/(?P<token>[0-9a-f]{24,})_(?P<index>[1-9][0-9]{0,2})\.png$")
HOST_HEADER = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$")
_ID_ALPHABET = string.ascii_lowercase + string.digits
# The second name image links use (image_host="second"): loopback under another name than the one called.
SECOND_HOST_NAMES = {"localhost": "127.0.0.1"}


class ApiError(Exception):
    """An error answered as JSON: HTTP status, PixelDojo error code, message and extra headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message)


def error_body(style: str, code: str, message: str) -> dict[str, Any]:
    """Error JSON in the "nested" or the "flat" style."""
    if style == "flat":
        return {"error": code, "message": message}
    return {"error": {"code": code, "message": message}}


# --- request validation ---


@dataclass(frozen=True)
class GenerationRequest:
    """A validated POST /flux body (seed -1 = pick one at random)."""

    prompt: str
    model: str
    aspect_ratio: str = "16:9"
    num_outputs: int = 1
    seed: int = -1
    megapixels: str = "1"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_request(body: Any) -> GenerationRequest:
    """Validate a decoded JSON body; raise ApiError (invalid_request / model_not_found). null = omitted."""
    if not isinstance(body, dict):
        raise _invalid("Request body must be a JSON object")
    unknown = sorted(set(body) - ALLOWED_FIELDS)
    if unknown:
        raise _invalid(f"Unknown field(s): {', '.join(unknown)}")
    fields = {name: value for name, value in body.items() if value is not None}

    prompt = fields.get("prompt")
    if prompt is None:
        raise _invalid("prompt is required")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _invalid("prompt must be a non-empty string")
    if len(prompt) > MAX_PROMPT_LENGTH:
        raise _invalid(f"prompt must be at most {MAX_PROMPT_LENGTH} characters")

    model = fields.get("model")
    if model is None:
        raise _invalid("model is required")
    if not isinstance(model, str):
        raise _invalid("model must be a string")
    if model not in MODELS:
        raise ApiError(
            404, "model_not_found", f"Model '{model}' does not exist; available: {', '.join(MODELS)}"
        )

    aspect_ratio = fields.get("aspect_ratio", "16:9")
    if not isinstance(aspect_ratio, str) or aspect_ratio not in ASPECT_RATIOS:
        raise _invalid(f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}")
    num_outputs = fields.get("num_outputs", 1)
    if not _is_int(num_outputs) or not 1 <= num_outputs <= 4:
        raise _invalid("num_outputs must be an integer between 1 and 4")
    seed = fields.get("seed", -1)
    if not _is_int(seed) or seed < -1:
        raise _invalid("seed must be a non-negative integer, or -1 for a random seed")
    if "lora_weights" in fields:
        if model != LORA_MODEL:
            raise _invalid(f"lora_weights is only supported by the {LORA_MODEL} model")
        url = fields["lora_weights"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise _invalid("lora_weights must be an http(s) URL")
    if "lora_scale" in fields:
        scale = fields["lora_scale"]
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not -1 <= scale <= 3:
            raise _invalid("lora_scale must be a number between -1 and 3")
    megapixels = fields.get("megapixels", "1")
    if not isinstance(megapixels, str) or megapixels not in MEGAPIXELS:
        raise _invalid(f"megapixels must be one of the strings {', '.join(map(repr, MEGAPIXELS))}")
    if "go_fast" in fields and not isinstance(fields["go_fast"], bool):
        raise _invalid("go_fast must be a boolean")
    return GenerationRequest(prompt, model, aspect_ratio, num_outputs, seed, megapixels)


# --- shared state ---


@dataclass(frozen=True)
class Generation:
    """What is needed to (re-)render the images of one generation."""

    token: str
    prompt: str
    seed: int
    model: str
    aspect_ratio: str
    megapixels: str
    num_outputs: int
    created: float
    extra_images: int = 0  # served beyond num_outputs (the extra_url fault)


@dataclass(frozen=True)
class Job:
    """A job of the job API. Its outcome is decided at submission; its status follows the sandbox clock."""

    id: str
    key: str
    model: str
    created: float
    processing_at: float  # "pending" before, "processing" from then
    terminal_at: float  # completed or failed from then
    credit_cost: float
    unit_cost: float  # credits of one image (refunded when it fails)
    assets_ok: tuple[bool, ...]  # per image, in order
    job_failed: bool  # the whole job failed (the job_failed fault)
    token: str | None  # of the generation serving its images (None when none was made)
    image_root: str  # root URL of its image links
    seed: int
    width: int
    height: int

    @property
    def failed(self) -> bool:
        return self.job_failed or not any(self.assets_ok)

    @property
    def refund(self) -> float:
        """Credits given back when the job ends: all of them if it failed, else its failed images'."""
        if self.failed:
            return self.credit_cost
        return _credits(self.unit_cost * self.assets_ok.count(False))

    def status(self, now: float) -> str:
        if now < self.processing_at:
            return "pending"
        if now < self.terminal_at:
            return "processing"
        return "failed" if self.failed else "completed"

    def assets(self) -> list[dict[str, Any]]:
        """Its images once terminal: none if the whole job failed, else one per image, in order."""
        if self.job_failed:
            return []
        assets: list[dict[str, Any]] = []
        for n, ok in enumerate(self.assets_ok, start=1):
            if ok:
                url = f"{self.image_root}/generated/{self.token}_{n}.png"
                assets.append(
                    {
                        "url": url,
                        "status": "completed",
                        "seed": self.seed,
                        "width": self.width,
                        "height": self.height,
                    }
                )
            else:
                error = {"code": "asset_failed", "message": f"Image {n} failed to generate (injected)"}
                assets.append({"url": None, "status": "failed", "error": error})
        return assets


def _iso(timestamp: float) -> str:
    """An ISO 8601 UTC time with milliseconds, as JavaScript writes it ("2026-11-20T10:11:12.345Z")."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_body(job: Job, now: float, output_style: str) -> dict[str, Any]:
    """The body of ``GET /jobs/{jobId}`` for ``job`` at sandbox time ``now``, images in ``output_style``."""
    status = job.status(now)
    terminal = status in TERMINAL_STATUSES
    body: dict[str, Any] = {
        "id": job.id,
        "jobId": job.id,
        "status": status,
        "model": job.model,
        "createdAt": _iso(job.created),
    }
    if terminal:
        body["completedAt"] = _iso(job.terminal_at)
    refunded = job.refund if terminal else 0.0
    body["creditCost"] = _json_number(job.credit_cost)
    body["creditsRefunded"] = _json_number(refunded)
    if terminal:
        body["creditsUsed"] = _json_number(_credits(job.credit_cost - refunded))
    assets = job.assets() if terminal else []
    urls = [asset["url"] for asset in assets if asset["status"] == "completed"]
    if output_style == "images":
        body["images"] = urls
    elif output_style == "output":
        body["output"] = urls[0] if len(urls) == 1 else urls
    else:
        body["assets"] = assets
    if status == "failed":
        message = (
            "The model failed to generate (injected)" if job.job_failed else "Every image failed (injected)"
        )
        body["error"] = {"code": "generation_failed", "message": message}
    return body


class SandboxState:
    """Config, rate-limit windows, credits, stats and generations, all guarded by one lock."""

    def __init__(self, config: SandboxConfig) -> None:
        self._lock = threading.Lock()
        self._initial = config
        self._in_flight = {"flux": 0, "image": 0, "run": 0}  # being answered; a reset does not end them
        self._epoch = 0  # bumped by reset(): webhooks of jobs from before are not sent
        self._closed = False  # the server stopped: no more webhooks
        self._timers: dict[str, threading.Timer] = {}  # webhook timers of jobs not ended yet, by job id
        self._clear(config)

    def _clear(self, config: SandboxConfig) -> None:
        self._config = config
        self._rng = random.Random(config.fault_seed)
        self._windows: dict[str, deque[float]] = {}
        self._credits_used: dict[str, float] = {}  # against the quota of the key's current plan
        self._credits_charged: dict[str, float] = {}  # every key, since the last reset
        self._generations: dict[str, Generation] = {}
        self._flux_by_status: dict[str, int] = {}
        self._request_times: deque[float] = deque(maxlen=MAX_REQUEST_TIMES)
        self._flux_requests = self._image_requests = self._images_generated = 0
        self._clock_offset = 0.0
        self._jobs: dict[str, Job] = {}  # in creation order
        self._unsettled: set[str] = set()  # jobs whose refund (if any) is not given back yet
        self._run_requests = self._job_polls = 0
        self._run_by_status: dict[str, int] = {}
        self._webhooks: deque[dict[str, Any]] = deque(maxlen=MAX_WEBHOOK_RECORDS)

    def now(self) -> float:
        """The sandbox's wall clock: real time plus however far tests advanced it."""
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox's clock forward (retention and rate windows see the jump); returns the offset."""
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds < 10**9:
            raise ValueError(f"advance must be a non-negative number of seconds, got {seconds!r}")
        with self._lock:
            self._clock_offset += float(seconds)
            return self._clock_offset

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def configure(self, **changes: Any) -> SandboxConfig:
        with self._lock:
            old, new = self._config, self._config.updated(**changes)
            self._config = new
            for key in list(self._credits_used):
                if old.keys.get(key) != new.keys.get(key):
                    del self._credits_used[key]  # a new plan starts with its full quota
            if "fault_seed" in changes:
                self._rng = random.Random(new.fault_seed)
            return new

    def reset(self) -> None:
        with self._lock:
            self._epoch += 1
            self._cancel_timers()
            self._clear(self._initial)

    def close(self) -> None:
        """The server stopped: cancel pending webhooks and send none from now on."""
        with self._lock:
            self._closed = True
            self._cancel_timers()

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def authenticate(self, key: str, config: SandboxConfig | None = None) -> KeyPlan:
        """The plan of ``key`` in ``config`` (default: the current config), or a 401."""
        plan = (config or self._config).keys.get(key) if key else None
        if plan is None:
            message = "Missing API key" if not key else "Invalid API key"
            raise ApiError(401, "invalid_api_key", message, {"WWW-Authenticate": "Bearer"})
        return plan

    def acquire_rate_slot(self, key: str, rpm: int) -> float:
        """Record a request in the key's sliding window, or raise 429 (not recorded)."""
        with self._lock:
            now = self.now()
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - RATE_WINDOW_SECONDS:
                window.popleft()
            if len(window) >= rpm:
                wait = max(1, math.ceil(window[-rpm] + RATE_WINDOW_SECONDS - now))
                raise ApiError(
                    429,
                    "rate_limit_exceeded",
                    f"Rate limit of {rpm} requests per minute exceeded; retry in {wait}s",
                    {"Retry-After": str(wait)},
                )
            window.append(now)
            return now

    def release_rate_slot(self, key: str, slot: float) -> None:
        with self._lock:
            window = self._windows.get(key)
            if window and slot in window:
                window.remove(slot)

    def reserve_credits(self, key: str, plan: KeyPlan, credits: float) -> float | None:
        """Charge ``credits`` to the key, or raise 402 if its quota cannot cover them all.

        Returns the credits left on the key's quota afterwards (None for a key without a quota).
        """
        with self._lock:
            self._settle(self.now())  # refunds of jobs that ended count first
            remaining = None
            if plan.quota is not None:
                remaining = _credit_sum(plan.quota, -self._credits_used.get(key, 0.0))
                if credits > remaining:
                    raise ApiError(
                        402,
                        "quota_exceeded",
                        f"Quota exceeded: {credits:g} credit(s) requested, {max(0.0, remaining):g} left",
                    )
                self._credits_used[key] = _credit_sum(self._credits_used.get(key, 0.0), credits)
                remaining = _credit_sum(remaining, -credits)
            self._credits_charged[key] = _credit_sum(self._credits_charged.get(key, 0.0), credits)
            return remaining

    def refund_credits(self, key: str, credits: float) -> None:
        with self._lock:
            self._refund(key, credits)

    def _refund(self, key: str, credits: float) -> None:
        if key in self._credits_used:
            self._credits_used[key] = max(0.0, _credit_sum(self._credits_used[key], -credits))
        if key in self._credits_charged:
            self._credits_charged[key] = max(0.0, _credit_sum(self._credits_charged[key], -credits))

    def rate_limit_headers(self, key: str, rpm: int, style: str) -> dict[str, str]:
        """X-RateLimit-* for the key's sliding window as it is now (style "seconds" or "epoch")."""
        with self._lock:
            now = self.now()
            window = self._windows.get(key, deque())
            while window and window[0] <= now - RATE_WINDOW_SECONDS:
                window.popleft()
            frees_at = window[0] + RATE_WINDOW_SECONDS if window else now
            remaining = max(0, rpm - len(window))
        reset = max(0, math.ceil(frees_at - now)) if style == "seconds" else math.ceil(frees_at)
        return {
            "X-RateLimit-Limit": str(rpm),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }

    def roll(self, probability: float) -> bool:
        """True with the given probability (the RNG is only consumed for 0 < p < 1)."""
        if probability <= 0:
            return False
        if probability >= 1:
            return True
        with self._lock:
            return self._rng.random() < probability

    def random_bytes(self, count: int) -> bytes:
        with self._lock:
            return self._rng.randbytes(count)

    def add_generation(
        self, request: GenerationRequest, seed: int, extra_images: int = 0, made: int | None = None
    ) -> Generation:
        """Register a generation's images for download; ``made`` images count as generated (all if None)."""
        generation = Generation(
            token=secrets.token_hex(12),
            prompt=request.prompt,
            seed=seed,
            model=request.model,
            aspect_ratio=request.aspect_ratio,
            megapixels=request.megapixels,
            num_outputs=request.num_outputs,
            created=self.now(),
            extra_images=extra_images,
        )
        with self._lock:
            self._prune(generation.created)
            self._generations[generation.token] = generation
            self._images_generated += request.num_outputs if made is None else made
        return generation

    def _prune(self, now: float) -> None:
        """Forget expired generations (insertion order is creation order) and cap the total."""
        retention = self._config.retention_seconds
        for token, generation in list(self._generations.items()):
            if now - generation.created < retention and len(self._generations) < MAX_GENERATIONS:
                break
            del self._generations[token]

    def find_generation(self, token: str) -> Generation | None:
        with self._lock:
            return self._generations.get(token)

    def record_flux(self, status: int, at: float) -> None:
        with self._lock:
            self._flux_requests += 1
            self._flux_by_status[str(status)] = self._flux_by_status.get(str(status), 0) + 1
            self._request_times.append(at)

    def record_image_request(self) -> None:
        with self._lock:
            self._image_requests += 1

    def record_run(self, status: int) -> None:
        with self._lock:
            self._run_requests += 1
            self._run_by_status[str(status)] = self._run_by_status.get(str(status), 0) + 1

    def record_poll(self) -> None:
        with self._lock:
            self._job_polls += 1

    # jobs

    def create_job(
        self,
        key: str,
        model: str,
        body: dict[str, Any],
        credits: float,
        image_root: str,
        config: SandboxConfig,
    ) -> Job:
        """Make a charged job of ``model`` for ``key``, deciding its outcome now (the job/asset faults), and
        schedule its completion webhook when one is configured."""
        count = int(body.get("num_outputs", 1))
        job_failed = self.roll(config.faults.job_failed)
        assets_ok = (
            (False,) * count
            if job_failed
            else tuple(not self.roll(config.faults.asset_failed) for _ in range(count))
        )
        seed = body["seed"] if _is_int(body.get("seed")) and body["seed"] >= 0 else secrets.randbelow(2**32)
        aspect_ratio = body.get("aspect_ratio")
        if not isinstance(aspect_ratio, str) or aspect_ratio not in ASPECT_RATIOS:
            aspect_ratio = "1:1"
        size = body.get("resolution", body.get("megapixels"))
        megapixels = catalogue.megapixels_text(size) if size is not None else None
        if config.output_megapixels is not None:
            megapixels = f"{config.output_megapixels:g}"
        megapixels = megapixels or "1"
        token = None
        if not job_failed and any(assets_ok):
            request = GenerationRequest(
                str(body.get("prompt", "")), model, aspect_ratio, count, seed, megapixels
            )
            token = self.add_generation(request, seed, made=assets_ok.count(True)).token
        width, height = image_size(aspect_ratio, megapixels)
        now = self.now()
        pending, processing = config.job_pending_seconds, config.job_processing_seconds
        job = Job(
            id="job_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(20)),
            key=key,
            model=model,
            created=now,
            processing_at=now + pending,
            terminal_at=now + pending + processing,
            credit_cost=credits,
            unit_cost=_credits(credits / count),
            assets_ok=assets_ok,
            job_failed=job_failed,
            token=token,
            image_root=image_root,
            seed=seed,
            width=width,
            height=height,
        )
        with self._lock:
            self._settle(now)
            retention = self._config.retention_seconds
            for job_id, old in list(self._jobs.items()):
                if now - old.created < retention and len(self._jobs) < MAX_JOBS:
                    break
                del self._jobs[job_id]
                self._unsettled.discard(job_id)
            self._jobs[job.id] = job
            self._unsettled.add(job.id)
            if config.job_webhook_url is not None and not self._closed:
                timer = threading.Timer(pending + processing, self._job_ended, args=(job.id, self._epoch))
                timer.daemon = True
                self._timers[job.id] = timer
                timer.start()
        return job

    def _settle(self, now: float) -> None:
        """Give back the refunds of the jobs that ended by ``now`` (lock held)."""
        for job_id in list(self._unsettled):
            job = self._jobs.get(job_id)
            if job is None:
                self._unsettled.discard(job_id)
            elif now >= job.terminal_at:
                self._unsettled.discard(job_id)
                if job.refund:
                    self._refund(job.key, job.refund)

    def find_job(self, key: str, job_id: str) -> tuple[Job, float] | None:
        """The key's job (not expired) and the sandbox time it was read at, or None."""
        with self._lock:
            now = self.now()
            self._settle(now)
            job = self._jobs.get(job_id)
            if job is None or job.key != key or now - job.created >= self._config.retention_seconds:
                return None
            return job, now

    def jobs_of(self, key: str) -> tuple[list[Job], float]:
        """The key's jobs that have not expired, newest first, and the sandbox time they were read at."""
        with self._lock:
            now = self.now()
            self._settle(now)
            retention = self._config.retention_seconds
            jobs = [
                job
                for job in reversed(self._jobs.values())
                if job.key == key and now - job.created < retention
            ]
            return jobs, now

    def _job_ended(self, job_id: str, epoch: int) -> None:
        """The timer of a job's end: send its completion webhook."""
        with self._lock:
            if epoch == self._epoch:
                self._timers.pop(job_id, None)
            job = self._jobs.get(job_id)
            early = job.terminal_at - self.now() if job is not None else 0.0
        if early > 0:  # the timer measured real time; the sandbox clock may lag it by a hair
            time.sleep(min(early, 1.0))
        self.send_webhook(job_id, epoch)

    def replay_webhook(self, job_id: str) -> None:
        """Send a terminal job's completion webhook again, now, from a daemon thread."""
        with self._lock:
            epoch = self._epoch
        threading.Thread(
            target=self.send_webhook, args=(job_id, epoch), name="sandbox-webhook", daemon=True
        ).start()

    def send_webhook(self, job_id: str, epoch: int) -> None:
        """POST the job's completion event to ``job_webhook_url`` (one try) and record how it went.

        Nothing is sent after close(), for a job from before a reset (another ``epoch``), for a job that is
        gone or has not ended, or when no URL is configured.
        """
        with self._lock:
            if self._closed or epoch != self._epoch:
                return
            now = self.now()
            self._settle(now)
            job, url, style = (
                self._jobs.get(job_id),
                self._config.job_webhook_url,
                self._config.job_output_style,
            )
        if job is None or url is None or job.status(now) not in TERMINAL_STATUSES:
            return
        body = job_body(job, now, style)
        event = {"event": f"job.{body['status']}", "jobId": job.id, "status": body["status"], **body}
        request = urllib.request.Request(  # noqa: S310 - job_webhook_url is validated as http(s)
            url,
            data=json.dumps(event).encode("utf-8"),
            headers={"Content-Type": "application/json", "User-Agent": "PixelDojoSandbox/1.0"},
            method="POST",
        )
        status: int | str
        try:
            with _WEBHOOK_OPENER.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError, HTTPException):
            status = "error"
        with self._lock:
            if epoch == self._epoch:
                self._webhooks.append({"jobId": job.id, "status": status})

    @contextlib.contextmanager
    def answering(self, kind: str) -> Iterator[None]:
        """Count a ``flux``, ``run`` or ``image`` request as in flight while the sandbox answers it."""
        with self._lock:
            self._in_flight[kind] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[kind] -= 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            self._settle(self.now())
            return {
                "flux_requests": self._flux_requests,
                "flux_by_status": dict(self._flux_by_status),
                "image_requests": self._image_requests,
                "images_generated": self._images_generated,
                "request_times": list(self._request_times),
                "credits_used": dict(self._credits_used),
                "credits_charged": dict(self._credits_charged),
                "in_flight": dict(self._in_flight),
                "run_requests": self._run_requests,
                "run_by_status": dict(self._run_by_status),
                "job_polls": self._job_polls,
                "jobs": self._job_counts(),
                "webhooks": list(self._webhooks),
            }

    def _job_counts(self) -> dict[str, int]:
        """Jobs not expired, by their current status (lock held)."""
        now = self.now()
        counts: dict[str, int] = {}
        for job in self._jobs.values():
            if now - job.created < self._config.retention_seconds:
                status = job.status(now)
                counts[status] = counts.get(status, 0) + 1
        return counts


# Webhooks go straight to their URL, never through a proxy named by the environment.
_WEBHOOK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _credits(value: float) -> float:
    """An amount of credits without float dust (3 * 1.1 is 3.3 here)."""
    return round(value, 9)


def _credit_sum(a: float, b: float) -> float:
    return _credits(a + b)


def _json_number(value: float) -> int | float:
    """A whole number as an int (as PixelDojo's JavaScript would write 3.0), else the float."""
    return int(value) if float(value).is_integer() else value


# --- HTTP ---


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.state = state
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("PixelDojo sandbox: connection error from %s", client_address, exc_info=True)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() calls socket.getfqdn(), a DNS lookup that can stall without network.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PixelDojoSandbox/1.0"
    timeout = 120  # idle keep-alive connections are closed after this
    server: _HTTPServer

    @property
    def state(self) -> SandboxState:
        return self.server.state

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    # routing

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        if len(path) > 1:
            path = path.rstrip("/")
        try:
            body = self._read_body()
            if path in FLUX_PATHS:
                self._require(method, "POST")
                with self.state.answering("flux"):
                    self._handle_flux(body)
            elif match := RUN_PATH.match(path):
                self._require(method, "POST")
                with self.state.answering("run"):
                    self._handle_run(match["api_id"], body)
            elif match := JOBS_PATH.match(path):
                if match["replay"]:
                    self._require(method, "POST")
                    self._handle_replay(match["job_id"])
                elif match["job_id"]:
                    self._require(method, "GET", "HEAD")
                    self._handle_job(match["job_id"])
                else:
                    self._require(method, "GET", "HEAD")
                    self._handle_jobs()
            elif match := MODELS_PATH.match(path):
                self._require(method, "GET", "HEAD")
                self._handle_models(match["api_id"], schema=bool(match["schema"]))
            elif match := IMAGE_PATH.match(path):
                self._require(method, "GET", "HEAD")
                with self.state.answering("image"):
                    self._handle_image(match["token"], int(match["index"]), head=method == "HEAD")
            elif path == "/_sandbox/config":
                self._require(method, "GET", "POST")
                if method == "POST":
                    self._update_config(body)
                self._send_json(200, self.state.config.to_dict())
            elif path == "/_sandbox/reset":
                self._require(method, "POST")
                self.state.reset()
                self._send_json(200, {"ok": True, "config": self.state.config.to_dict()})
            elif path == "/_sandbox/stats":
                self._require(method, "GET")
                self._send_json(200, self.state.stats())
            elif path == "/_sandbox/clock":
                self._require(method, "POST")
                self._advance_clock(body)
            else:
                raise ApiError(404, "not_found", f"No such endpoint: {path}")
        except ApiError as error:
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            logger.exception("PixelDojo sandbox: unexpected error on %s %s", method, path)
            self.close_connection = True
            self._send_error(ApiError(500, "server_error", "Unexpected sandbox error"))

    def _require(self, method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ApiError(
                405, "method_not_allowed", f"Method {method} not allowed", {"Allow": ", ".join(allowed)}
            )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            self.close_connection = True
            raise _invalid("Invalid Content-Length header") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(413, "invalid_request", "Request body too large")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                raise _invalid("Malformed chunked request body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                raise ApiError(413, "invalid_request", "Request body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    # responses

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self._send_bytes(status, data, "application/json", headers)

    def _send_error(self, error: ApiError) -> None:
        body = error_body(self.state.config.error_style, error.code, error.message)
        self._send_json(error.status, body, error.headers)

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self._send_head(status, content_type, len(data), headers)
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_head(
        self, status: int, content_type: str, length: int, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _send_cut(self, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        """Announce the full length, send the first half, then drop the connection."""
        self._send_head(200, content_type, len(data), headers)
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _send_drip(self, data: bytes, seconds: float, headers: dict[str, str] | None = None) -> None:
        """Head at once, then the body in even pieces, the last one ``seconds`` later.

        A client that goes away ends the answer quietly at the next piece.
        """
        self._send_head(200, "application/json", len(data), headers)
        pieces = max(1, min(len(data), math.ceil(seconds / DRIP_INTERVAL_SECONDS)))
        started = time.monotonic()
        for n in range(pieces):
            delay = started + seconds * (n + 1) / pieces - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                self.wfile.write(data[len(data) * n // pieces : len(data) * (n + 1) // pieces])
            except ConnectionError:
                self.close_connection = True
                return

    # endpoints

    def _handle_flux(self, raw_body: bytes) -> None:
        started = time.time()
        state, config = self.state, self.state.config  # one config for the whole answer
        faults, key = config.faults, self._bearer_key()
        headers: dict[str, str] = {}
        try:
            status, payload = 200, self._generate(config, key, raw_body)
        except ApiError as error:
            status, headers = error.status, dict(error.headers)
            if (status, error.code) == (400, "invalid_request"):
                status = config.invalid_status
            payload = error_body(config.error_style, error.code, error.message)
        state.record_flux(status, started)

        def duplicate_url(answer: dict[str, Any]) -> None:
            if state.roll(faults.duplicate_url):
                answer["images"].append(answer["images"][0])

        self._send_charged(config, key, status, payload, headers, alter=duplicate_url)

    def _send_charged(
        self,
        config: SandboxConfig,
        key: str,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str],
        alter: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Send the answer of a charging request (/flux, /run) with the key's rate-limit headers.

        A 200 comes after the work was made and the credits charged; the faults html_200, error_200,
        truncated_200 and drip_200 may spoil it (in that order of precedence); ``alter`` may change a 200
        body that error_200 left alone.
        """
        state, faults = self.state, config.faults
        plan = config.keys.get(key) if key else None
        if plan is not None and config.rate_limit_headers != "none":
            headers = {**headers, **state.rate_limit_headers(key, plan.rpm, config.rate_limit_headers)}
        if status == 200 and state.roll(faults.html_200):  # a web page (a proxy's)
            echoed = html.escape(self.headers.get("Authorization", ""))
            page = f"<html><body><h1>200 OK</h1><pre>Authorization: {echoed}</pre></body></html>"
            self._send_bytes(200, page.encode(), "text/html; charset=utf-8", headers)
            return
        if status == 200 and state.roll(faults.error_200):
            payload = error_body(
                "nested", config.error_200_code, "Generation failed after it started (injected)"
            )
        elif status == 200 and alter is not None:
            alter(payload)
        data = json.dumps(payload).encode("utf-8")
        if status == 200 and state.roll(faults.truncated_200):
            self._send_cut(data, "application/json", headers)
        elif status == 200 and state.roll(faults.drip_200):
            self._send_drip(data, faults.drip_seconds, headers)
        else:
            self._send_bytes(status, data, "application/json", headers)

    def _handle_run(self, api_id: str, raw_body: bytes) -> None:
        state, config = self.state, self.state.config  # one config for the whole answer
        key = self._bearer_key()
        headers: dict[str, str] = {}
        try:
            status, payload = 200, self._submit_job(config, key, api_id, raw_body)
        except ApiError as error:
            status, headers = error.status, dict(error.headers)
            if (status, error.code) == (400, "invalid_request"):
                status = config.invalid_status
            payload = error_body(config.error_style, error.code, error.message)
        state.record_run(status)
        self._send_charged(config, key, status, payload, headers)

    def _submit_job(self, config: SandboxConfig, key: str, api_id: str, raw_body: bytes) -> dict[str, Any]:
        """Validate, charge and make a job of ``api_id``; the body of its 200 (ApiError otherwise)."""
        state = self.state
        plan = state.authenticate(key, config)
        slot = state.acquire_rate_slot(key, plan.rpm)
        model = catalogue.BY_ID.get(api_id)
        if model is None or model["modality"] != "image":
            raise ApiError(404, "model_not_found", f"Unknown image model: {api_id}")
        body = _json_object(raw_body)
        problem = catalogue.validation_error(model["requestSchema"], body)
        if problem is not None:
            raise _invalid(problem)
        credits = catalogue.job_credits(api_id, body)
        state.reserve_credits(key, plan, credits)
        self._inject_paid_faults(config, key, slot, credits)
        root = self._public_root(second=config.image_host == "second")
        job = state.create_job(key, api_id, body, credits, root, config)
        submitted = {
            "jobId": job.id,
            "id": job.id,
            "status": "pending",
            "model": api_id,
            "createdAt": _iso(job.created),
            "creditCost": _json_number(credits),
        }
        return {"job": submitted} if config.job_submit_style == "nested" else submitted

    def _job_of_caller(self, job_id: str) -> tuple[Job, float]:
        """The caller's job (401 without a valid key, 404 if unknown, expired or another key's)."""
        key = self._bearer_key()
        self.state.authenticate(key)
        found = self.state.find_job(key, job_id)
        if found is None:
            raise ApiError(404, "job_not_found", f"Job not found: {job_id}")
        return found

    def _handle_job(self, job_id: str) -> None:
        state, config = self.state, self.state.config
        state.record_poll()
        state.authenticate(self._bearer_key(), config)
        if state.roll(config.faults.poll_error):
            raise ApiError(503, "server_error", "Job status is unavailable (injected fault)")
        if state.roll(config.faults.poll_rate_limit):
            raise ApiError(
                429, "rate_limit_exceeded", "Rate limit exceeded (injected fault)", {"Retry-After": "1"}
            )
        job, now = self._job_of_caller(job_id)
        self._send_json(200, job_body(job, now, config.job_output_style))

    def _handle_jobs(self) -> None:
        state, config = self.state, self.state.config
        key = self._bearer_key()
        state.authenticate(key, config)
        jobs, now = state.jobs_of(key)
        listed = [job_body(job, now, config.job_output_style) for job in jobs[:JOBS_LISTED]]
        self._send_json(200, {"jobs": listed, "total": len(jobs)})

    def _handle_replay(self, job_id: str) -> None:
        job, now = self._job_of_caller(job_id)
        if job.status(now) not in TERMINAL_STATUSES:
            raise ApiError(409, "job_not_terminal", f"Job {job_id} has not finished yet")
        self.state.replay_webhook(job.id)
        self._send_json(200, {"ok": True, "jobId": job.id})

    def _handle_models(self, api_id: str | None, *, schema: bool) -> None:
        """The public catalogue (no key needed): the list, one model with its requestSchema, or its schema."""
        if self.state.roll(self.state.config.faults.catalogue_error):
            raise ApiError(503, "server_error", "The model catalogue is unavailable (injected)")
        if api_id is not None and self.state.roll(self.state.config.faults.schema_error):
            raise ApiError(503, "server_error", "The model's schema is unavailable (injected)")
        if api_id is None:
            detailed = "detailed=true" in (urlsplit(self.path).query or "").lower()
            self._send_json(200, catalogue.model_list(detailed=detailed))
            return
        model = catalogue.model_detail(api_id)
        if model is None:
            raise ApiError(404, "model_not_found", f"Unknown model: {api_id}")
        self._send_json(200, model["requestSchema"] if schema else model)

    def _generate(self, config: SandboxConfig, key: str, raw_body: bytes) -> dict[str, Any]:
        state = self.state
        plan = state.authenticate(key, config)
        if state.roll(config.faults.forbidden):  # a known key this account may not use (disabled, wrong plan)
            raise ApiError(403, "forbidden", "This API key may not generate images (injected fault)")
        slot = state.acquire_rate_slot(key, plan.rpm)
        try:
            body = json.loads(raw_body)
        except ValueError as exc:
            raise _invalid(f"Malformed JSON body: {exc}") from None
        request = validate_request(body)
        credits = _credits(config.model_cost(request.model) * request.num_outputs)
        remaining = state.reserve_credits(key, plan, credits)
        self._inject_paid_faults(config, key, slot, credits)
        if state.roll(config.faults.slow):
            time.sleep(config.faults.slow_seconds)
        if config.latency_seconds:
            time.sleep(config.latency_seconds)
        seed = request.seed if request.seed >= 0 else secrets.randbelow(2**32)
        extra = 1 if state.roll(config.faults.extra_url) else 0  # an image nobody asked (or paid) for
        if config.output_megapixels is not None:  # every picture this size, whatever was asked
            request = dataclasses.replace(request, megapixels=f"{config.output_megapixels:g}")
        generation = state.add_generation(request, seed, extra_images=extra)
        base = self._public_root(second=config.image_host == "second")
        count = request.num_outputs + extra
        urls = [f"{base}/generated/{generation.token}_{n}.png" for n in range(1, count + 1)]
        images: list[Any] = urls
        if config.image_style == "objects":  # the shape community clients report from the real API
            width, height = image_size(request.aspect_ratio, request.megapixels)
            images = [{"url": url, "seed": seed, "width": width, "height": height} for url in urls]
        payload: dict[str, Any] = {
            "id": "gen_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16)),
            "created": int(generation.created),
            "images": images,
            "model": request.model,
            "prompt": request.prompt,
            "seed": seed,
        }
        if config.credits_style == "reported":
            payload["credits_used"] = _json_number(credits)
            if remaining is not None:
                payload["credits_remaining"] = _json_number(remaining)
        return payload

    def _inject_paid_faults(self, config: SandboxConfig, key: str, slot: float, credits: float) -> None:
        """The faults that answer before anything is made (500, 429), giving the reserved credits back."""
        state = self.state
        try:
            if state.roll(config.faults.server_error):
                raise ApiError(500, "server_error", "An internal server error occurred (injected fault)")
            if state.roll(config.faults.rate_limit):
                state.release_rate_slot(key, slot)
                raise ApiError(
                    429, "rate_limit_exceeded", "Rate limit exceeded (injected fault)", {"Retry-After": "1"}
                )
        except ApiError:
            state.refund_credits(key, credits)
            raise

    def _bearer_key(self) -> str:
        """The API key of an `Authorization: Bearer <key>` header ("" if absent)."""
        scheme, _, key = self.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return ""
        return key.strip()

    def _public_root(self, *, second: bool = False) -> str:
        """Root URL for image links: the Host the client used, else the bound address; with ``second``,
        another name for this server on the same port (see ``SECOND_HOST_NAMES``)."""
        host = self.headers.get("Host", "")
        root = f"http://{host}" if HOST_HEADER.match(host) else None
        root = root or _root_url(self.server.server_name, self.server.server_port)
        if not second:
            return root
        parts = urlsplit(root)
        name = SECOND_HOST_NAMES.get((parts.hostname or "").lower(), "localhost")
        return f"http://{name}:{parts.port or self.server.server_port}"

    def _handle_image(self, token: str, index: int, head: bool) -> None:
        state, config = self.state, self.state.config
        state.record_image_request()
        generation = state.find_generation(token)
        if (
            generation is None
            or index > generation.num_outputs + generation.extra_images
            or state.now() - generation.created >= config.retention_seconds
            or state.roll(config.faults.expired)
        ):
            raise ApiError(404, "not_found", "Image not found or expired")
        if state.roll(config.faults.slow):
            time.sleep(config.faults.slow_seconds)
        if state.roll(config.faults.corrupt):
            data = b"\x00CORRUPT" + state.random_bytes(4096)
        elif state.roll(config.faults.bomb):
            data = bomb_png()
        elif config.image_pool:
            data = _pooled_png(generation, index, config.image_pool)
        else:
            data = render_png(
                generation.prompt,
                generation.seed,
                generation.model,
                generation.aspect_ratio,
                generation.megapixels,
                index,
                config.near_duplicates,
            )
        if head or not state.roll(config.faults.truncate):
            self._send_bytes(200, data, "image/png", {"Cache-Control": "private, max-age=3600"})
            return
        self._send_cut(data, "image/png")

    def _update_config(self, raw_body: bytes) -> None:
        changes = _json_object(raw_body)
        try:
            self.state.configure(**changes)
        except (TypeError, ValueError) as exc:
            raise _invalid(str(exc)) from None

    def _advance_clock(self, raw_body: bytes) -> None:
        body = _json_object(raw_body)
        if set(body) != {"advance"}:
            raise _invalid('Request body must be {"advance": seconds}')
        try:
            offset = self.state.advance_clock(body["advance"])
        except ValueError as exc:
            raise _invalid(str(exc)) from None
        self._send_json(200, {"offset_seconds": offset, "now": self.state.now()})


def _pooled_png(generation: Generation, index: int, pool: int) -> bytes:
    """One of ``pool`` pictures of the generation's shape, rendered once, with this image's name in a text
    chunk so that every file differs (as every generated image does) while no picture is rendered twice."""
    name = f"{generation.token}_{index}"
    variant = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % pool + 1
    picture = render_png(
        "sandbox image pool",
        variant,
        generation.model,
        generation.aspect_ratio,
        generation.megapixels,
        1,
    )
    return with_text(picture, "Source", name)


def _json_object(raw_body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what is wrong with it."""
    try:
        value = json.loads(raw_body or b"{}")
    except ValueError as exc:
        raise _invalid(f"Malformed JSON body: {exc}") from None
    if not isinstance(value, dict):
        raise _invalid("Request body must be a JSON object")
    return value


def _root_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 - a wildcard bind is reached through loopback
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class SandboxServer:
    """The sandbox HTTP server, served from a daemon thread. Binds on construction (port 0 = ephemeral)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: SandboxConfig | None = None) -> None:
        self.state = SandboxState(config or SandboxConfig())
        self._httpd = _HTTPServer((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._httpd.server_name

    @property
    def port(self) -> int:
        return self._httpd.server_port

    @property
    def root_url(self) -> str:
        return _root_url(self.host, self.port)

    @property
    def base_url(self) -> str:
        return self.root_url + API_PREFIX

    @property
    def config(self) -> SandboxConfig:
        return self.state.config

    def start(self) -> SandboxServer:
        if self._thread is not None:
            raise RuntimeError("sandbox server already started")
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="pixeldojo-sandbox",
            daemon=True,
        )
        self._thread.start()
        logger.debug("PixelDojo sandbox listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving; pending completion webhooks are cancelled and none is sent any more."""
        self.state.close()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def configure(self, **changes: Any) -> SandboxConfig:
        """Thread-safe partial update of the config; returns the new config (ValueError if invalid)."""
        return self.state.configure(**changes)

    def reset(self) -> None:
        """Back to the initial config; clears rate windows, credits, stats, jobs and generated images."""
        self.state.reset()

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def advance_clock(self, seconds: float) -> float:
        """Let ``seconds`` pass on the sandbox's clock at once (image retention, rate-limit windows)."""
        return self.state.advance_clock(seconds)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
