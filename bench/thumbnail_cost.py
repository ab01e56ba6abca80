"""Thumbnail cost: what the server spends per tile, through a Django view (before) and a signed URL (now).

    .venv/bin/python bench/thumbnail_cost.py [--tiles 48] [--rounds 20]

* Uses its own PostgreSQL database ``--database`` (default ``bench_thumbs``) on 127.0.0.1:5432,
  created afresh and migrated, and dropped at the end (``--keep`` keeps it); files go to a temporary folder.
* Seeds one team with ``--tiles`` stored images with real files: a PNG original and both WebP thumbnails made
  by ``verify_image`` (as the download worker does).
* In-process Django test ``Client`` (no network, no web server), logged in as a team member with the team
  active. Per scenario ``--rounds`` rounds over every tile; p50/p95 in ms of ``Client.get`` (body read), and
  the SQL queries of one request:
  - *view per tile*: ``/i/<code>/thumbnail/``, what every tile's ``src`` was (still served for old links);
  - *signed URL per tile*: the tile's ``/t/<signature>/<expiry>/<key>`` (local storage), without a session;
  - *library page*: the page of those tiles, which signs both sizes of each.
* Signing alone: ``thumbnail_sources()`` for every tile of a page, locally (HMAC) and on S3 (moto on
  loopback, SigV4): the first page in a process (on S3 that makes the boto3 client and asks botocore for one
  presigned URL, to learn the bucket's address and region) and the median of the next ones.
* Prints a markdown report with the date, commit and load average.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tools import benchkit  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiles", type=int, default=48, help="images on the page (48, a library page)")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds over every tile (20)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    benchkit.add_database_arguments(parser, default_database="bench_thumbs")
    return parser.parse_args(argv)


def setup_django(database_url: str, media_root: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": media_root,
            "DJANGO_SECURE": "0",
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "DJANGO_DEBUG": "0",
            "DJANGO_STATIC_MANIFEST": "0",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "pixelgallery.settings",
        }
    )
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(tiles: int):
    """A team, its member and ``tiles`` stored images with real files."""
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image as PILImage

    from generations.imaging import verify_image
    from generations.models import Generation, Image
    from generations.services import image_storage_names
    from teams.models import Membership, Team

    user = get_user_model().objects.create_user("bench", "bench@example.com", "bench-password-1")
    team = Team.objects.create(name="Thumb Studio", created_by=user)
    Membership.objects.create(team=team, user=user, role="owner")
    gradient = PILImage.linear_gradient("L").resize((1024, 768))
    for index in range(tiles):
        picture = PILImage.merge("RGB", (gradient, gradient.rotate(index * 7 % 360), gradient.transpose(0)))
        out = io.BytesIO()
        picture.save(out, format="PNG")
        verified = verify_image(out.getvalue())
        generation = Generation.objects.create(
            user=user, team=team, prompt=f"bench tile {index}", model="flux-pro", status="done"
        )
        image = Image.objects.create(
            generation=generation, user=user, team=team, index=0, provider_url="http://127.0.0.1:9/x.png"
        )
        names = image_storage_names(image, verified.extension)
        for name, data in zip(
            names, (verified.data, verified.thumbnail, verified.thumbnail_small), strict=True
        ):
            default_storage.save(name, ContentFile(data))
        Image.objects.filter(id=image.id).update(
            status="stored",
            file=names[0],
            thumbnail=names[1],
            thumbnail_small=names[2],
            width=verified.width,
            height=verified.height,
            content_type=verified.content_type,
        )
    return user, team


def timed(client, urls: list[str], rounds: int) -> tuple[float, float, int]:
    """p50 and p95 ms of GET (body read) over ``rounds`` passes of ``urls``; SQL queries of the first URL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        if response.streaming:
            b"".join(response.streaming_content)

    for url in urls[:5]:
        get(url)  # warm-up
    times = []
    for _ in range(rounds):
        for url in urls:
            started = time.perf_counter()
            get(url)
            times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        get(urls[0])
    return benchkit.percentile(times, 0.5), benchkit.percentile(times, 0.95), len(queries.captured_queries)


def signing_ms(images, repeats: int = 20) -> tuple[float, float]:
    """ms to sign a page's tiles: the first time in a process (S3: nothing remembered), then the median."""
    from generations import thumbnails

    thumbnails._bucket.cache_clear()
    started = time.perf_counter()
    for image in images:
        thumbnails.thumbnail_sources(image)
    first = (time.perf_counter() - started) * 1000
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for image in images:
            thumbnails.thumbnail_sources(image)
        runs.append((time.perf_counter() - started) * 1000)
    return first, benchkit.percentile(runs, 0.5)


def s3_signing_ms(images) -> tuple[float, float]:
    """The same on S3: moto's server on loopback, the project's S3 settings pointed at it."""
    from django.test import override_settings

    from tests.s3 import ACCESS_KEY, REGION, SECRET_KEY, moto_s3_server, s3_client, storage_from_env

    with moto_s3_server() as endpoint:
        s3_client(endpoint).create_bucket(Bucket="bench-thumbs")
        env = {
            "AWS_STORAGE_BUCKET_NAME": "bench-thumbs",
            "AWS_S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_S3_ADDRESSING_STYLE": "path",
        }
        from django.conf import settings

        with override_settings(STORAGES={**settings.STORAGES, "default": storage_from_env(env)}):
            return signing_ms(images)


def drop_database(args: argparse.Namespace) -> None:
    import psycopg
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    with psycopg.connect(
        host=args.host, port=args.port, user=args.user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args.database)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = benchkit.ensure_database(
        host=args.host, port=args.port, user=args.user, database=args.database, reseed=True
    )
    with tempfile.TemporaryDirectory(prefix="thumbs-bench-") as media_root:
        setup_django(url, media_root)
        from django.test import Client
        from django.urls import reverse

        from generations import thumbnails
        from generations.models import Image
        from teams.active import SESSION_KEY

        started = time.perf_counter()
        user, team = seed(args.tiles)
        seeding = time.perf_counter() - started
        member = Client()
        member.force_login(user)
        session = member.session
        session[SESSION_KEY] = str(team.code)
        session.save()
        images = list(Image.objects.filter(team=team).order_by("id"))
        view_urls = [reverse("image_thumbnail", args=[image.code]) for image in images]
        signed_urls = [thumbnails.thumbnail_url(image.thumbnail_small.name) for image in images]
        rows = [
            ("view per tile (`/i/<code>/thumbnail/`, before)", *timed(member, view_urls, args.rounds)),
            ("signed URL per tile (`/t/…`, now; no session)", *timed(Client(), signed_urls, args.rounds)),
            ("library page (signs 2 sizes per tile)", *timed(member, [reverse("team_library")], args.rounds)),
        ]
        local = signing_ms(images)
        s3 = s3_signing_ms(images)
        env = benchkit.environment(
            commit=subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=PROJECT_ROOT
            ).stdout.strip(),
            tiles=str(args.tiles),
            seeding=f"{seeding:.1f} s",
        )
    if not args.keep:
        drop_database(args)
    print("\n".join(f"- {name}: {value}" for name, value in env.items()))
    print("\n| request | p50 ms | p95 ms | SQL queries |\n| --- | ---: | ---: | ---: |")
    for name, p50, p95, queries in rows:
        print(f"| {name} | {p50:.2f} | {p95:.2f} | {queries} |")
    print(
        f"\n| signing a page of {args.tiles} tiles (2 sizes each) | first in the process (ms) | then (ms) |"
    )
    print("| --- | ---: | ---: |")
    print(f"| local files (HMAC-SHA256) | {local[0]:.2f} | {local[1]:.2f} |")
    print(f"| S3 (SigV4; the first makes the boto3 client, asks botocore once) | {s3[0]:.2f} | {s3[1]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
