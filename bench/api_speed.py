"""API speed: ``GET /api/v1/images`` against the team library page it mirrors, over a 100,000-image team.

    .venv/bin/python bench/api_speed.py [--images 100000] [--requests 100] [--database NAME] [--reseed]

* The database and seeding of ``bench/library_speed.py`` (``--database``, default ``pixelgallery_bench``; the
  team ``Bench Studio`` seeded by ``bench/seed_library.py`` unless it holds ``--images`` already).
* One member of the team, twice: a session with the team active for ``/library/team/``, and an API token
  for the team (scope ``read``; its rate limit lifted for the run) for ``/api/v1/images``; the same filters,
  the same page size (48). Requests are in-process (Django's test ``Client``, over HTTPS as in production),
  page and API alternating so both see the same machine load: ``--warmup`` untimed, then ``--requests``
  timed of each; p50/p95 in ms.
* SQL queries per request, and per API page from page 1 to ``--page`` following ``next``: constant.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench.library_speed import ensure_seeded, next_url, run_python  # noqa: E402
from tools import benchkit  # noqa: E402

PAGE_SIZE = 48


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--team", default="Bench Studio")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--member", type=int, default=3, help="the member number N (3, a 'member')")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--page", type=int, default=20, help="API pages followed to count queries (20)")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    benchkit.add_database_arguments(parser, default_database="pixelgallery_bench")
    return parser.parse_args(argv)


@dataclass
class Pair:
    name: str
    params: dict[str, object]
    depth: int = 1
    page_ms: list[float] = field(default_factory=list)
    api_ms: list[float] = field(default_factory=list)
    page_queries: set[int] = field(default_factory=set)
    api_queries: set[int] = field(default_factory=set)
    rows: int = 0


def url(base: str, params: dict[str, object]) -> str:
    clean = {name: value for name, value in params.items() if value not in ("", None)}
    return f"{base}?{urlencode(clean)}" if clean else base


def timed(client, target: str) -> tuple[float, object]:
    started = time.perf_counter()
    response = client.get(target, secure=True)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {target} answered {response.status_code}")
    return elapsed, response


def queries_of(client, target: str) -> tuple[int, object]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        _, response = timed(client, target)
    return len(context.captured_queries), response


def deep(client, target: str, depth: int, *, api: bool) -> str:
    """The URL of page ``depth``, following the page's "Load more" link or the API's ``next``."""
    for _ in range(depth - 1):
        _, response = timed(client, target)
        following = response.json()["next"] if api else next_url(target, response.content.decode())
        if not following:
            raise SystemExit(f"fewer than {depth} pages for {target}")
        target = following.replace("https://testserver", "")
    return target


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["DATABASE_URL"] = benchkit.ensure_database(
        host=args.host, port=args.port, user=args.user, database=args.database, reseed=args.reseed
    )
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_STATIC_MANIFEST", "0")
    os.environ["API_RATE_LIMIT_PER_MINUTE"] = "1000000"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixelgallery.settings")
    os.chdir(PROJECT_ROOT)
    run_python("manage.py", "migrate", "--no-input", "-v", "0")

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from api.services import token_create
    from teams.active import SESSION_KEY
    from teams.models import Team
    from tools.seeding import SEARCH_EXAMPLES, member_usernames

    seeding = ensure_seeded(args)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    team = Team.objects.filter(name=args.team).order_by("id").first()
    member = get_user_model().objects.get(username=member_usernames(args.team, args.members)[args.member - 1])
    page_client = Client()
    page_client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    session = page_client.session
    session[SESSION_KEY] = str(team.code)
    session.save()
    secret = token_create(user=member, name="api_speed bench", scopes=["read"], team=team).secret
    api_client = Client(headers={"Authorization": f"Bearer {secret}"})

    today = date.today()
    recent = {
        "model": "flux-pro",
        "date_from": today - timedelta(days=180),
        "date_to": today - timedelta(days=90),
    }
    word = SEARCH_EXAMPLES["common"][0]
    pairs = [
        Pair("newest", {}),
        Pair(f"newest, page {args.page}", {}, depth=args.page),
        Pair(f"search '{word}'", {"q": word}),
        Pair(f"search '{word}' + model + dates", {"q": word, **recent}),
        Pair("model + dates (180 to 90 days ago)", recent),
        Pair("favourites first", {"sort": "favourites"}),
    ]
    for pair in pairs:
        page_url = deep(page_client, url("/library/team/", pair.params), pair.depth, api=False)
        api_url = deep(
            api_client, url("/api/v1/images", {**pair.params, "limit": PAGE_SIZE}), pair.depth, api=True
        )
        for _ in range(args.warmup):
            timed(page_client, page_url)
            timed(api_client, api_url)
        for _ in range(args.requests):
            pair.page_ms.append(timed(page_client, page_url)[0])
            pair.api_ms.append(timed(api_client, api_url)[0])
        for _ in range(3):
            pair.page_queries.add(queries_of(page_client, page_url)[0])
            count, response = queries_of(api_client, api_url)
            pair.api_queries.add(count)
            pair.rows = len(response.json()["data"])
        print(
            f"{pair.name}: page p95 {benchkit.percentile(pair.page_ms, 0.95):.1f} ms, "
            f"API p95 {benchkit.percentile(pair.api_ms, 0.95):.1f} ms",
            flush=True,
        )
    per_page: list[int] = []
    target: str | None = url("/api/v1/images", {"limit": PAGE_SIZE})
    while target and len(per_page) < args.page:
        count, response = queries_of(api_client, target)
        per_page.append(count)
        target = (response.json()["next"] or "").replace("https://testserver", "") or None

    env = benchkit.environment()
    lines = [
        f"Date: {env['date']}  ",
        f"Machine: {env['machine']}  ",
        f"Software: {env['software']}  ",
        f"Load average (1/5/15 min) at the end: {env['load']}  ",
        f"Library: {seeding.images:,} images in team {args.team!r}; {args.warmup} warm-up + "
        f"{args.requests} timed requests of each, page and API alternating; 48 images a page.",
        "",
        "| scenario | page p50 | page p95 | API p50 | API p95 | page SQL | API SQL | API rows |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for pair in pairs:
        p50, p95 = (benchkit.percentile(pair.page_ms, q) for q in (0.5, 0.95))
        a50, a95 = (benchkit.percentile(pair.api_ms, q) for q in (0.5, 0.95))
        page_sql = "/".join(map(str, sorted(pair.page_queries)))
        api_sql = "/".join(map(str, sorted(pair.api_queries)))
        cells = [pair.name, f"{p50:.1f}", f"{p95:.1f}", f"{a50:.1f}", f"{a95:.1f}", page_sql, api_sql]
        lines.append(f"| {' | '.join(cells)} | {pair.rows} |")
    lines += ["", f"SQL queries of API pages 1 to {len(per_page)} following `next`: {per_page}"]
    text = "\n".join(lines)
    print()
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    slower = [
        p.name for p in pairs if benchkit.percentile(p.api_ms, 0.95) > benchkit.percentile(p.page_ms, 0.95)
    ]
    if slower:
        print(f"\nAPI p95 above the page's: {', '.join(slower)}")
    return 1 if slower or len(set(per_page)) > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
