# PixelGallery application image (web, worker and beat run from it with different commands).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt gunicorn==23.0.0
COPY . .
RUN DJANGO_SECRET_KEY=collectstatic python manage.py collectstatic --noinput \
    && useradd --create-home --uid 1000 pixelgallery && mkdir -p /app/var && chown -R pixelgallery /app/var
USER pixelgallery
EXPOSE 8000
CMD ["gunicorn", "pixelgallery.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
