# PixelGallery application image: web (gunicorn), the Celery workers, beat and Flower all run from it with
# different commands (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin pixelgallery

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected into the image at build time: no database, broker or real secret is involved
# (whitenoise serves them). /app/var holds beat's schedule file and is the only folder the app writes to.
RUN DJANGO_SECRET_KEY=build-time-collectstatic-only-not-a-secret-0123456789abcdefghij \
    DJANGO_DEBUG=0 DATABASE_URL=sqlite:////tmp/build.sqlite3 CELERY_BROKER_URL=memory:// \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown pixelgallery:pixelgallery /app/var

USER pixelgallery
EXPOSE 8000

# python:3.11-slim has no curl; /healthz answers any Host over plain HTTP. (Compose gives the worker and beat
# containers their own checks.)
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=5)"]

# Worker processes: WEB_CONCURRENCY (gunicorn reads it; compose sets 3).
CMD ["gunicorn", "pixelgallery.wsgi:application", "--bind=0.0.0.0:8000", "--worker-tmp-dir=/dev/shm", \
     "--access-logfile=-", "--max-requests=1000", "--max-requests-jitter=100"]
