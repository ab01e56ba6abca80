"""PixelGallery settings: every value comes from the environment (see README "Configuration").

Embedded defaults give a first run with SQLite, local files, a filesystem Celery broker and the PixelDojo
sandbox; PostgreSQL, Redis and S3 are switched on by DATABASE_URL, REDIS_URL/CELERY_BROKER_URL and
AWS_STORAGE_BUCKET_NAME.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from pixelgallery.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PIXELGALLERY_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-dev-key-set-DJANGO_SECRET_KEY-in-production")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ("localhost", "127.0.0.1", "[::1]"))
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "pixelgallery.views.csrf_failure"  # a page in the site's layout

# --- HTTPS and browser hardening: on whenever DEBUG is off, unless DJANGO_SECURE=0 (bin/test and bin/run set
# it: the test servers and runserver speak plain HTTP). `manage.py check --deploy` reports nothing when on.
SECURE = env_bool("DJANGO_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = SECURE
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000) if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
# Behind a TLS-terminating proxy: the header it sets to "https", e.g. X-Forwarded-Proto (only when the proxy
# always sets or overwrites it, or clients could claim HTTPS).
_proxy_ssl_header = env_str("DJANGO_SECURE_PROXY_SSL_HEADER")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_").removeprefix("HTTP_"), "https")
    if _proxy_ssl_header
    else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Preloading is a separate opt-in (it reaches every subdomain and is slow to undo): without it Django's
# reminder (security.W021) is silenced rather than the header sent by default.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "pixelgallery.apps.PixelGalleryConfig",
    "generations",
    "teams",
    "library",
    "credits",
    "sandbox",
    "ninja",  # Django Ninja: its bundled Swagger UI (no CDN) for /api/v1/docs
    "api",
    "webhooks",
]

MIDDLEWARE = [
    "pixelgallery.middleware.RequestIdMiddleware",  # first: every log line of a request carries its id
    "pixelgallery.middleware.MetricsMiddleware",
    "pixelgallery.middleware.ProbeMiddleware",  # /healthz /readyz /metrics: any Host, plain HTTP, no session
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a refused login into the lockout page
]

ROOT_URLCONF = "pixelgallery.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pixelgallery.context_processors.header",
                "teams.context_processors.teams",
            ],
            # {{ value|moment }}: the one way every template shows a date or time (no {% load %} needed).
            "builtins": ["pixelgallery.templatetags.moments"],
        },
    },
]

WSGI_APPLICATION = "pixelgallery.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        # Keep a connection for a minute of requests/tasks (no connect per request), checked before reuse.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file (not memory) test database, so worker processes started by tests can open it too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    # WAL + a busy timeout let the web process and the worker write to one SQLite file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "gallery"
LOGOUT_REDIRECT_URL = "login"

# --- Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from one
# client address, that pair is refused (HTTP 429, a page saying so) for AXES_COOLOFF_MINUTES (never for good);
# other users and addresses are unaffected. A successful login clears the count.
AUTHENTICATION_BACKENDS = [
    "pixelgallery.auth.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("AXES_COOLOFF_MINUTES", 15))
if not timedelta(0) < AXES_COOLOFF_TIME:  # axes reads no cool-off as "locked until an administrator unlocks"
    raise ValueError("AXES_COOLOFF_MINUTES must be more than 0: a lockout always ends")
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "pixelgallery.auth.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# The client address: REMOTE_ADDR, unless the app is reached only through TRUSTED_PROXY_COUNT proxies that
# each append the address they saw to X-Forwarded-For (nginx $proxy_add_x_forwarded_for, Caddy, Traefik).
# Then it is the entry that many places from the right (what the outermost trusted proxy saw); entries
# further left are whatever the client sent and are ignored. Behind a proxy without this, every client shares
# the proxy's address. (django-ipware counts the hops listed in the header, the last proxy not being one of
# them, hence the - 1; not strict, so client-sent entries on the left never void the chain.)
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ValueError(f"TRUSTED_PROXY_COUNT must be 0 or more, got {TRUSTED_PROXY_COUNT}")
AXES_IPWARE_PROXY_ORDER = "left-most"
AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT - 1 if TRUSTED_PROXY_COUNT else None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if TRUSTED_PROXY_COUNT else ("REMOTE_ADDR",)
)
IPWARE_STRICT = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves the collected files (collectstatic) under content-hashed names, cached for a year;
# development and tests (DJANGO_STATIC_MANIFEST=0, set by bin/test) serve the sources without collectstatic.
STATIC_MANIFEST = env_bool("DJANGO_STATIC_MANIFEST", not DEBUG)
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

# --- Storage: local files by default, S3-compatible bucket when AWS_STORAGE_BUCKET_NAME is set. ---
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"  # never served directly: originals go through an authorised view.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
            "signature_version": env_str("AWS_S3_SIGNATURE_VERSION", "s3v4"),
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or None,  # "path" for MinIO & co.
            "default_acl": "private",
            "querystring_auth": True,  # every URL is signed and expires; nothing is public.
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 300),
            "custom_domain": None,  # a custom domain would hand out unsigned URLs.
            "file_overwrite": True,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}

# Signed thumbnail URLs (generations/thumbnails.py) are the same for a whole window of this many seconds and
# expire at the end of the next one: a member removed from a team loses the thumbnails they hold within two
# windows (48 hours by default). At most 3.5 days: S3 presigned URLs live 7 days at most.
THUMBNAIL_URL_WINDOW_SECONDS = env_int("THUMBNAIL_URL_WINDOW_SECONDS", 24 * 3600)
if not 60 <= THUMBNAIL_URL_WINDOW_SECONDS <= 302_400:
    raise ValueError(
        "THUMBNAIL_URL_WINDOW_SECONDS must be from 60 to 302400 seconds (3.5 days), "
        f"got {THUMBNAIL_URL_WINDOW_SECONDS}"
    )

# --- Content Security Policy (django-csp): no inline script or style anywhere. Images may also come from the
# bucket, where the image views redirect to signed URLs.
_storage_image_sources: list[str] = []
if AWS_STORAGE_BUCKET_NAME:
    _endpoint = urlsplit(env_str("AWS_S3_ENDPOINT_URL"))
    if _endpoint.netloc:
        _storage_image_sources = [
            f"{_endpoint.scheme}://{_endpoint.netloc}",
            f"{_endpoint.scheme}://*.{_endpoint.netloc}",  # virtual-hosted buckets
        ]
    else:
        _storage_image_sources = ["https://*.amazonaws.com"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *_storage_image_sources, *env_list("CSP_IMG_SRC")],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- PixelDojo: the real API when PIXELDOJO_API_KEY is set, otherwise the bundled sandbox. ---
PIXELDOJO_SANDBOX_KEY = "sandbox-key"
PIXELDOJO_API_KEY = env_str("PIXELDOJO_API_KEY")
PIXELDOJO_USES_SANDBOX = not PIXELDOJO_API_KEY
if PIXELDOJO_USES_SANDBOX:
    PIXELDOJO_API_KEY = PIXELDOJO_SANDBOX_KEY
    PIXELDOJO_BASE_URL = env_str("PIXELDOJO_BASE_URL", "http://127.0.0.1:8765/api/v1")
else:
    PIXELDOJO_BASE_URL = env_str("PIXELDOJO_BASE_URL", "https://pixeldojo.ai/api/v1")
PIXELDOJO_CONNECT_TIMEOUT = env_float("PIXELDOJO_CONNECT_TIMEOUT", 5.0)
PIXELDOJO_READ_TIMEOUT = env_float("PIXELDOJO_READ_TIMEOUT", 120.0)
# A whole call, connecting and the answer included, ends within this (a dripping answer is cut there).
PIXELDOJO_CALL_DEADLINE_SECONDS = env_float("PIXELDOJO_CALL_DEADLINE_SECONDS", 150.0)
# Image hosts beyond the API's host and its subdomains (allowed by default when their addresses are public).
PIXELDOJO_IMAGE_HOSTS = env_list("PIXELDOJO_IMAGE_HOSTS")
# Tests only: allowed image hosts that may resolve to loopback (the sandbox's second host name). Empty by
# default; `manage.py check --deploy` refuses it with DEBUG off.
PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK = env_list("PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK")
PIXELDOJO_MAX_IMAGE_BYTES = env_int("PIXELDOJO_MAX_IMAGE_BYTES", 40 * 1024 * 1024)
PIXELDOJO_RETENTION_SECONDS = env_int("PIXELDOJO_RETENTION_SECONDS", 24 * 3600)
PIXELDOJO_RATE_LIMIT_RPM = env_int("PIXELDOJO_RATE_LIMIT_RPM", 10)
PIXELDOJO_RATE_LIMIT_WINDOW_SECONDS = env_float("PIXELDOJO_RATE_LIMIT_WINDOW_SECONDS", 60.0)
PIXELDOJO_RATE_LIMIT_MARGIN_SECONDS = env_float("PIXELDOJO_RATE_LIMIT_MARGIN_SECONDS", 1.0)
# A worker waits this long at most for a rate-limit slot, then re-schedules the task (freeing itself).
PIXELDOJO_RATE_WAIT_MAX_SECONDS = env_float("PIXELDOJO_RATE_WAIT_MAX_SECONDS", 90.0)
# One shared window per PixelDojo account.
PIXELDOJO_RATE_LIMIT_NAME = env_str("PIXELDOJO_RATE_LIMIT_NAME", "pixeldojo")
# A worker calling PixelDojo holds a lease for the call deadline + this margin, renewed every
# PIXELDOJO_LEASE_RENEW_SECONDS while the call runs; a worker that died mid-call is replaced once it ends.
PIXELDOJO_LEASE_MARGIN_SECONDS = env_float("PIXELDOJO_LEASE_MARGIN_SECONDS", 30.0)
PIXELDOJO_LEASE_RENEW_SECONDS = env_float("PIXELDOJO_LEASE_RENEW_SECONDS", 30.0)  # while a call runs
PIXELDOJO_MAX_ATTEMPTS = env_int("PIXELDOJO_MAX_ATTEMPTS", 6)  # API calls per generation, then it fails
IMAGE_MAX_ATTEMPTS = env_int("IMAGE_MAX_ATTEMPTS", 8)  # downloads per image, then it is failed or expired
PIXELDOJO_QUOTA_PAUSE_SECONDS = env_int("PIXELDOJO_QUOTA_PAUSE_SECONDS", 3600)
# Catalogue models run as PixelDojo jobs: a job is polled after PIXELDOJO_JOB_POLL_SECONDS, then ever less
# often (x1.5 each time) up to PIXELDOJO_JOB_POLL_MAX_SECONDS apart. With a secret set, PixelDojo's
# completion webhook at /hooks/pixeldojo/<secret>/ polls the job at once (its payload is not trusted).
PIXELDOJO_JOB_POLL_SECONDS = env_float("PIXELDOJO_JOB_POLL_SECONDS", 2.0)
PIXELDOJO_JOB_POLL_MAX_SECONDS = env_float("PIXELDOJO_JOB_POLL_MAX_SECONDS", 30.0)
PIXELDOJO_JOB_WEBHOOK_SECRET = env_str("PIXELDOJO_JOB_WEBHOOK_SECRET")

# Outgoing webhooks (webhooks/): each POST is bounded by the timeout; a failed delivery is retried after
# 1, 2, 4 … minutes (at most 2 h apart) for 24 h; an endpoint that failed that many attempts in a row, over
# at least a day, is disabled and its team's admins are e-mailed.
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 60.0)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env_float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 7200.0)
WEBHOOK_RETRY_WINDOW_SECONDS = env_int("WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600)
WEBHOOK_DISABLE_AFTER_FAILURES = env_int("WEBHOOK_DISABLE_AFTER_FAILURES", 20)
WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WEBHOOK_DISABLE_AFTER_SECONDS", 24 * 3600)
# Waits up to this long are a task's countdown; longer ones are picked up by the beat sweeper (below the
# broker's visibility timeout, which would otherwise deliver a waiting task twice).
WEBHOOK_COUNTDOWN_MAX_SECONDS = env_float("WEBHOOK_COUNTDOWN_MAX_SECONDS", 600.0)
WEBHOOK_SWEEP_GRACE_SECONDS = env_float("WEBHOOK_SWEEP_GRACE_SECONDS", 30.0)
# Tests only: webhook hosts that may resolve to loopback and be sent plain HTTP. Empty by default;
# `manage.py check --deploy` refuses it with DEBUG off.
WEBHOOK_HOSTS_LOOPBACK_OK = env_list("WEBHOOK_HOSTS_LOOPBACK_OK")


def _model_costs(name: str, default: str) -> dict[str, Decimal]:
    """``model=cost,…`` (credits per image, at most 4 decimal places, 0 or more); garbage fails loudly."""
    raw = env_str(name, default)
    costs: dict[str, Decimal] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        model, equals, text = (piece.strip() for piece in item.partition("="))
        try:
            cost = Decimal(text) if model and equals else None
        except InvalidOperation:
            cost = None
        if cost is None or not cost.is_finite() or cost < 0 or cost.as_tuple().exponent < -4 or cost >= 10**6:
            raise ValueError(
                f"{name} must be model=cost pairs separated by commas, each cost a number of credits per "
                f"image from 0 up to 4 decimal places (e.g. flux-1.1-pro-ultra=1.5); got {item!r}"
            )
        if model in costs:
            raise ValueError(f"{name} names {model!r} twice")
        costs[model] = cost
    return costs


# Credits one image of a model costs, when PixelDojo's answer does not say (models not named: 1 each).
PIXELDOJO_MODEL_COSTS = _model_costs("PIXELDOJO_MODEL_COSTS", "flux-1.1-pro-ultra=1.5")
# The model catalogue is fetched again this long after the last good fetch; after a failed attempt, not
# before this long (the beat task looks every 15 minutes).
PIXELDOJO_CATALOGUE_REFRESH_SECONDS = env_int("PIXELDOJO_CATALOGUE_REFRESH_SECONDS", 86400)
PIXELDOJO_CATALOGUE_RETRY_SECONDS = env_int("PIXELDOJO_CATALOGUE_RETRY_SECONDS", 900)
SWEEP_STALE_SECONDS = env_int("SWEEP_STALE_SECONDS", 180)  # untouched this long: the sweeper re-queues it

# --- Celery: Redis in production; an embedded filesystem broker for the no-Redis first run. ---
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", env_str("REDIS_URL", "filesystem://"))
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
# The shared rate limiter lives in Redis whenever Redis is around (else a file under var/).
PIXELDOJO_RATE_LIMIT_REDIS_URL = env_str(
    "PIXELDOJO_RATE_LIMIT_REDIS_URL",
    env_str(
        "REDIS_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
    ),
)
# --- JSON API (/api/v1/): requests per token and minute, counted in the rate limiter's Redis (else files).
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 120)
# An Idempotency-Key answers with its first generation for this long (as Stripe's do); then it is forgotten.
API_IDEMPOTENCY_KEY_HOURS = env_int("API_IDEMPOTENCY_KEY_HOURS", 24)
API_RATE_LIMIT_NAME = env_str("API_RATE_LIMIT_NAME", "api")
# --- Cache: what every page of a user or team repeats (header spend, provider pause, collection names);
# services forget an entry when its data changes, so it must be shared by the web and worker processes:
# Redis whenever Redis is around, else files under var/cache (one machine).
CACHE_URL = env_str("CACHE_URL", PIXELDOJO_RATE_LIMIT_REDIS_URL)
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL.startswith(("redis://", "rediss://"))
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    )
    | {"KEY_PREFIX": "pixelgallery", "TIMEOUT": env_int("CACHE_TIMEOUT_SECONDS", 300)}
}

# Sessions stay server-side rows (a logout, a password change or an administrator ends them at once) and are
# read through that cache: "cached_db" reads a session from the cache (one query less per request, the row
# when the cache lost it) and writes both; "db" reads the row every time. Signed-cookie sessions are not
# offered: a copied cookie would outlive a logout.
_SESSION_ENGINES = {
    "cached_db": "django.contrib.sessions.backends.cached_db",
    "db": "django.contrib.sessions.backends.db",
}
_session_store = env_str("SESSION_STORE", "cached_db")
if _session_store not in _SESSION_ENGINES:
    raise ValueError(f"SESSION_STORE must be one of {', '.join(_SESSION_ENGINES)}, got {_session_store!r}")
SESSION_ENGINE = _SESSION_ENGINES[_session_store]

# Unacknowledged messages of a worker that died come back after this long (Redis transport).
CELERY_BROKER_TRANSPORT_OPTIONS.setdefault("visibility_timeout", env_int("CELERY_VISIBILITY_TIMEOUT", 3600))
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection before and after each task unless this is set (a new
# connection per task); workers instead treat a task as Django treats a request (pixelgallery/celery.py).
CELERY_DB_REUSE_MAX = 1_000_000_000
CELERY_TASK_ALWAYS_EAGER = False
# Queues: PixelDojo calls (which may wait for a rate-limit slot), image downloads and outgoing webhooks run in
# separate worker pools, so none starves behind another (a slow receiver holds only webhook workers). A worker
# started without -Q consumes them all (development, tests); production runs one pool per queue
# (docker-compose.yml: worker-api, worker-downloads, worker-webhooks).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {"celery": {}, "pixeldojo": {}, "downloads": {}, "webhooks": {}}
CELERY_TASK_ROUTES = {
    "generations.tasks.run_generation": {"queue": "pixeldojo"},
    "generations.tasks.poll_job": {"queue": "pixeldojo"},
    "generations.tasks.persist_image": {"queue": "downloads"},
    "webhooks.tasks.deliver_webhook": {"queue": "webhooks"},
    "webhooks.tasks.send_due_webhooks": {"queue": "webhooks"},
    "generations.tasks.sweep_stale_work": {"queue": "celery"},
    "generations.tasks.refresh_catalogue": {"queue": "celery"},
    "api.tasks.forget_old_idempotency_keys": {"queue": "celery"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "PixelGallery <pixelgallery@localhost>")
# Team invitations one person may send in an hour (each may e-mail someone), counted in the database.
TEAM_INVITATIONS_PER_HOUR = env_int("TEAM_INVITATIONS_PER_HOUR", 20)

# --- Logs: one JSON object per line on stderr (LOG_FORMAT=plain for people; the default with DEBUG), with the
# request id, redacted (pixelgallery/logging.py). Celery workers and beat use this configuration too.
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "pixelgallery.logging.ContextFilter"},
        "redact": {"()": "pixelgallery.logging.RedactingFilter"},
    },
    "formatters": {
        "json": {"()": "pixelgallery.logging.JsonFormatter"},
        "plain": {"()": "pixelgallery.logging.PlainFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"urllib3": {"level": "WARNING"}, "axes": {"level": "WARNING"}},  # axes: lockouts, failures
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Probes and metrics (pixelgallery/health.py, pixelgallery/metrics.py).
READYZ_TIMEOUT_SECONDS = env_float("READYZ_TIMEOUT_SECONDS", 3.0)
# /metrics wants "Authorization: Bearer <token>"; without a token it is served only with DEBUG on
# (`check --deploy` reports pixelgallery.E002).
METRICS_TOKEN = env_str("METRICS_TOKEN")

# Every periodic schedule lives here.
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-work": {"task": "generations.tasks.sweep_stale_work", "schedule": 60.0},
    # Webhook deliveries whose next attempt is due (back-offs longer than WEBHOOK_COUNTDOWN_MAX_SECONDS).
    "send-due-webhooks": {"task": "webhooks.tasks.send_due_webhooks", "schedule": 60.0},
    # PixelDojo's model catalogue (models, costs, request schemas): looked at every 15 minutes, fetched when
    # due (daily; soon after a start or a failure). /ops/ can also fetch it at once.
    "refresh-catalogue": {
        "task": "generations.tasks.refresh_catalogue",
        "schedule": 900.0,
        "kwargs": {"only_if_due": True},
    },
    # Idempotency keys older than API_IDEMPOTENCY_KEY_HOURS.
    "forget-old-idempotency-keys": {"task": "api.tasks.forget_old_idempotency_keys", "schedule": 3600.0},
}
