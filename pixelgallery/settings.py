"""PixelGallery settings: every value comes from the environment (see README "Configuration").

Embedded defaults give a first run with SQLite, local files, a filesystem Celery broker and the PixelDojo
sandbox; PostgreSQL, Redis and S3 are switched on by DATABASE_URL, REDIS_URL/CELERY_BROKER_URL and
AWS_STORAGE_BUCKET_NAME.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from pixelgallery.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PIXELGALLERY_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-dev-key-set-DJANGO_SECRET_KEY-in-production")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ("localhost", "127.0.0.1", "[::1]"))
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "generations",
    "teams",
    "library",
    "credits",
    "sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
                "generations.context_processors.pixelgallery",
                "teams.context_processors.teams",
            ],
        },
    },
]

WSGI_APPLICATION = "pixelgallery.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
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

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

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
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
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
PIXELDOJO_IMAGE_HOSTS = env_list("PIXELDOJO_IMAGE_HOSTS")
PIXELDOJO_MAX_IMAGE_BYTES = env_int("PIXELDOJO_MAX_IMAGE_BYTES", 40 * 1024 * 1024)
PIXELDOJO_RETENTION_SECONDS = env_int("PIXELDOJO_RETENTION_SECONDS", 24 * 3600)
PIXELDOJO_RATE_LIMIT_RPM = env_int("PIXELDOJO_RATE_LIMIT_RPM", 10)
PIXELDOJO_RATE_LIMIT_WINDOW_SECONDS = env_float("PIXELDOJO_RATE_LIMIT_WINDOW_SECONDS", 60.0)
PIXELDOJO_RATE_LIMIT_MARGIN_SECONDS = env_float("PIXELDOJO_RATE_LIMIT_MARGIN_SECONDS", 1.0)
# A worker waits this long at most for a rate-limit slot, then re-schedules the task (freeing itself).
PIXELDOJO_RATE_WAIT_MAX_SECONDS = env_float("PIXELDOJO_RATE_WAIT_MAX_SECONDS", 90.0)
# One shared window per PixelDojo account.
PIXELDOJO_RATE_LIMIT_NAME = env_str("PIXELDOJO_RATE_LIMIT_NAME", "pixeldojo")
# A worker calling PixelDojo holds a lease for connect + read timeout + this margin; a worker that died
# mid-call is replaced once the lease ends.
PIXELDOJO_LEASE_MARGIN_SECONDS = env_float("PIXELDOJO_LEASE_MARGIN_SECONDS", 30.0)
PIXELDOJO_MAX_ATTEMPTS = env_int("PIXELDOJO_MAX_ATTEMPTS", 6)  # API calls per generation, then it fails
IMAGE_MAX_ATTEMPTS = env_int("IMAGE_MAX_ATTEMPTS", 8)  # downloads per image, then it is failed or expired
PIXELDOJO_QUOTA_PAUSE_SECONDS = env_int("PIXELDOJO_QUOTA_PAUSE_SECONDS", 3600)
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
# Unacknowledged messages of a worker that died come back after this long (Redis transport).
CELERY_BROKER_TRANSPORT_OPTIONS.setdefault("visibility_timeout", env_int("CELERY_VISIBILITY_TIMEOUT", 3600))
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "PixelGallery <pixelgallery@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"urllib3": {"level": "WARNING"}},
}

# Every periodic schedule lives here.
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-work": {"task": "generations.tasks.sweep_stale_work", "schedule": 60.0},
}
