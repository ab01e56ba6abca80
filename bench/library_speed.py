"""Library speed: server time of library pages and prompt searches over a 100,000-image team library.

    .venv/bin/python bench/library_speed.py [--images 100000] [--requests 100] [--reseed] [--explain]

    # issue 13: teams of 10k, 100k and 1M images in ONE database, each measured on its own (p95 goal 50 ms),
    # with EXPLAIN (ANALYZE, BUFFERS) of every scenario's page query
    .venv/bin/python bench/library_speed.py --scale [--sizes 10000,100000,1000000] [--database NAME]

* Uses the dedicated PostgreSQL database ``--database`` (default ``pixelgallery_bench``) on 127.0.0.1:5432,
  creating it when missing (``--reseed``: dropping and creating it afresh), and migrates it (``manage.py
  migrate`` with ``DATABASE_URL`` set).
* Seeds ``--images`` images into the team ``--team`` with ``bench/seed_library.py --reset`` unless the team
  already holds at least that many, and reports the seeding time.
* Serves requests in-process with Django's test ``Client`` (no network, no web server; one persistent database
  connection), logged in as one member with the team active in the session. Per scenario: ``--warmup``
  requests, then ``--requests`` timed requests (cycling through the scenario's URLs); p50/p95/max in ms of the
  time ``Client.get`` takes. Then ``--sql-samples`` requests of each URL under ``CaptureQueriesContext`` count
  the SQL queries and sum their time, and the queries of pages 1 to ``--page`` (following the "Load more"
  cursors) are counted. "page N" scenarios time the page reached that way.
* Measures the CPU time per request (this process + its database backend, from /proc) and the CPU other
  processes use meanwhile (``--wait-idle S`` waits up to S seconds per scenario for a quiet machine first):
  on a shared 2-core box wall times are noisy, CPU times much less so.
* Requests go over HTTPS (``secure=True``, as production redirects HTTP), with ``DJANGO_DEBUG=0``,
  ``LOG_LEVEL=WARNING`` and ``DJANGO_STATIC_MANIFEST=0`` (no collectstatic needed) unless set otherwise.
* Prints a markdown table; scenarios of the library page or prompt search whose p95 misses ``--goal-ms``
  (and all of them with ``--explain``) get ``EXPLAIN (ANALYZE, BUFFERS)`` of their slowest query.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tools import benchkit  # noqa: E402

LOAD_MORE = re.compile(r'data-testid="load-more" href="([^"]+)"')
TILE = 'data-testid="tile"'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=100_000, help="images in the team (100000)")
    parser.add_argument("--team", default="Bench Studio", help="team name (Bench Studio)")
    parser.add_argument("--members", type=int, default=8, help="team members (8)")
    parser.add_argument("--member", type=int, default=3, help="log in as member number N (3, a 'member')")
    parser.add_argument("--seed", type=int, default=1, help="seed_library.py --seed (1)")
    parser.add_argument("--reseed", action="store_true", help="drop the database, seed it afresh")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per scenario (100)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per scenario first (10)")
    parser.add_argument("--sql-samples", type=int, default=3, help="captured requests per URL (3)")
    parser.add_argument(
        "--wait-idle", type=float, default=0, help="wait up to this many s for an idle machine per scenario"
    )
    parser.add_argument("--page", type=int, default=20, help="the deep page whose queries are counted (20)")
    parser.add_argument("--goal-ms", type=float, default=100.0, help="p95 goal for library and search (100)")
    parser.add_argument("--only", default="", help="run only scenarios whose name contains this")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE every scenario")
    benchkit.add_database_arguments(parser, default_database="pixelgallery_bench")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="per-team-size benchmark: the seed_library.py --scale teams, as scale-member (in every team)",
    )
    parser.add_argument("--sizes", default="10000,100000,1000000", help="--scale: team sizes")
    args = parser.parse_args(argv)
    if args.scale:
        if args.database == "pixelgallery_bench":
            args.database = "pixelgallery_scale"
        if args.goal_ms == 100.0:
            args.goal_ms = 50.0
    return args


# --- database and seeding -----------------------------------------------------------------------------


def ensure_database(args: argparse.Namespace) -> str:
    """The benchmark's own database (created when missing; ``--reseed`` drops it first); its URL."""
    return benchkit.ensure_database(
        host=args.host, port=args.port, user=args.user, database=args.database, reseed=args.reseed
    )


def run_python(*arguments: str) -> tuple[str, float]:
    """Run a Python script with this environment, echoing its output; return it and the wall time."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *arguments],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        print(f"  | {line}", end="", flush=True)
        lines.append(line)
    if process.wait() != 0:
        raise SystemExit(f"{' '.join(arguments)} failed")
    return "".join(lines), time.perf_counter() - started


@dataclass
class Seeding:
    reused: bool
    images: int
    wall_seconds: float | None = None
    reported: str = ""
    command: str = ""


def ensure_seeded(args: argparse.Namespace) -> Seeding:
    from generations.models import Image
    from teams.models import Team

    team = Team.objects.filter(name=args.team).order_by("id").first()
    count = Image.objects.filter(team=team).count() if team else 0
    if count >= args.images:
        print(f"reusing {count:,} images of team {args.team!r} (--reseed to seed again)")
        return Seeding(reused=True, images=count)
    arguments = [
        "bench/seed_library.py",
        f"--images={args.images}",
        f"--team={args.team}",
        f"--members={args.members}",
        f"--seed={args.seed}",
        "--reset",
    ]
    print(f"seeding: {shlex.join(arguments)}")
    output, wall = run_python(*arguments)
    total = re.search(r"total time .*", output)
    return Seeding(
        reused=False,
        images=args.images,
        wall_seconds=wall,
        reported=total.group(0) if total else "",
        command="python " + shlex.join(arguments),
    )


# --- scenarios ----------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    urls: list[str]
    goal: bool = True  # a library page or prompt search: p95 must meet the goal
    depth: int = 1  # time this page (reached by following the "Load more" cursors)
    timings: list[float] = field(default_factory=list)
    hits: list[int] = field(default_factory=list)
    queries: set[int] = field(default_factory=set)  # SQL queries per request, over all its URLs
    pages: dict[int, int] = field(default_factory=dict)  # page number → SQL queries, following cursors
    sql_ms: list[float] = field(default_factory=list)  # SQL time per request
    slowest_sql: str = ""
    slowest_sql_ms: float = 0.0
    tiles: int = 0
    other_load: float = 0.0  # CPU cores busy with other processes while timing
    cpu_ms: float = 0.0  # CPU time of this process and its database backend per timed request


def query_string(**params: object) -> str:
    clean = {name: value for name, value in params.items() if value not in ("", None)}
    return "?" + urlencode(clean) if clean else ""


def build_scenarios(examples: dict[str, tuple[str, ...]], deep: int, far: tuple[int, str]) -> list[Scenario]:
    team, mine = "/library/team/", "/library/"
    today = date.today()
    recent = {"date_from": today - timedelta(days=180), "date_to": today - timedelta(days=90)}
    old = {"date_from": today - timedelta(days=330), "date_to": today - timedelta(days=300)}
    common = [team + query_string(q=q) for q in examples["common"]]
    return [
        Scenario("Team library, newest", [team]),
        Scenario(f"Team library, newest, page {deep}", [team], depth=deep),
        Scenario(
            f"Team library, newest, cursor after image {far[0]:,}",
            [team + query_string(cursor=far[1])],
        ),
        Scenario("Team library, oldest", [team + query_string(sort="oldest")]),
        Scenario("Team library, favourites first", [team + query_string(sort="favourites")]),
        Scenario(
            f"Team library, favourites first, page {deep}",
            [team + query_string(sort="favourites")],
            depth=deep,
        ),
        Scenario("Search, common word", common),
        Scenario(f"Search, common word, page {deep}", common, depth=deep),
        Scenario("Search, rare word", [team + query_string(q=q) for q in examples["rare"]]),
        Scenario("Search, two words", [team + query_string(q=q) for q in examples["two words"]]),
        Scenario(
            "Search + model + date range (180 to 90 days ago)",
            [team + query_string(q=q, model="flux-pro", **recent) for q in examples["common"]],
        ),
        Scenario("My images", [mine]),
        Scenario(f"My images, page {deep}", [mine], depth=deep),
        Scenario(
            "Filters only: model + date range (180 to 90 days ago)",
            [team + query_string(model="flux-pro", **recent)],
            goal=False,
        ),
        Scenario(
            "Filters only: model + date range (330 to 300 days ago)",
            [team + query_string(model="flux-pro", **old)],
            goal=False,
        ),
    ]


percentile = benchkit.percentile


def get(client, url: str):
    response = client.get(url, secure=True)  # over HTTPS, as in production (SECURE_SSL_REDIRECT)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")
    return response


def next_url(url: str, body: str) -> str | None:
    match = LOAD_MORE.search(body)
    return url.split("?", 1)[0] + html.unescape(match.group(1)) if match else None


def captured(client, url: str) -> tuple[list[tuple[float, str]], str]:
    """The (ms, SQL) of every query one request makes, and its body."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        body = get(client, url).content.decode()
    return [(float(q["time"]) * 1000, q["sql"]) for q in context.captured_queries], body


def page_url(client, url: str, depth: int) -> str | None:
    for _ in range(depth - 1):
        following = next_url(url, get(client, url).content.decode())
        if following is None:
            return None
        url = following
    return url


def run_scenario(
    client, scenario: Scenario, args: argparse.Namespace, meter: benchkit.CpuMeter | None
) -> None:
    base = scenario.urls
    if scenario.depth > 1:
        resolved = [page_url(client, url, scenario.depth) for url in base]
        scenario.urls = [url for url in resolved if url]
        if not scenario.urls:
            raise SystemExit(f"{scenario.name}: fewer than {scenario.depth} pages")
    for number in range(args.warmup):
        get(client, scenario.urls[number % len(scenario.urls)])
    before = meter.sample() if meter else None
    for number in range(args.requests):
        url = scenario.urls[number % len(scenario.urls)]
        started = time.perf_counter()
        get(client, url)
        scenario.timings.append((time.perf_counter() - started) * 1000)
    if meter and before:
        after = meter.sample()
        scenario.other_load = meter.other_cores(before, after)
        scenario.cpu_ms = (after[2] - before[2]) / os.sysconf("SC_CLK_TCK") * 1000 / args.requests
    # SQL: every URL a few times (query count, SQL time, the slowest statement).
    for url in scenario.urls:
        for _ in range(args.sql_samples):
            queries, body = captured(client, url)
            scenario.queries.add(len(queries))
            scenario.sql_ms.append(sum(ms for ms, _ in queries))
            scenario.tiles = max(scenario.tiles, body.count(TILE))
            ms, sql = max(queries)
            if ms >= scenario.slowest_sql_ms:
                scenario.slowest_sql_ms, scenario.slowest_sql = ms, sql
    # Query count per page, following the cursors from page 1 of the first URL to page ``args.page``.
    if scenario.depth == 1:
        url: str | None = base[0]
        for page in range(1, args.page + 1):
            assert url is not None
            queries, body = captured(client, url)
            scenario.pages[page] = len(queries)
            url = next_url(url, body)
            if url is None:
                break


def far_cursor(team, position: int) -> str:
    """The "Load more" cursor a member reaches after scrolling to the ``position``-th newest image."""
    from generations.models import Image
    from library.selectors import encode_cursor

    image = Image.objects.filter(team=team).order_by("-created_at", "-id")[position]
    return encode_cursor(image)


def count_hits(scenario: Scenario, member, team) -> None:
    """How many images each URL of the scenario matches (the library query without a LIMIT)."""
    from django.http import QueryDict

    from library.filters import LibraryFilterForm
    from library.selectors import library_queryset

    for url in scenario.urls:
        query = url.split("?", 1)[1] if "?" in url else ""
        form = LibraryFilterForm(QueryDict(query))
        form.is_valid()
        mine = not url.startswith("/library/team/")
        images = library_queryset(
            user=member, team=None if mine else team, mine=mine, filters=form.to_filters()
        )
        scenario.hits.append(images.count())


# --- report -------------------------------------------------------------------------------------------


def hits_text(hits: list[int]) -> str:
    if not hits:
        return ""
    low, high = min(hits), max(hits)
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


def table(scenarios: list[Scenario], args: argparse.Namespace) -> str:
    deep = args.page
    lines = [
        "| scenario | matches | p50 ms | p95 ms | max ms | SQL queries per request "
        f"| SQL queries, page 1 / page {deep} | SQL ms per request (median) | CPU ms per request (mean) "
        f"| other load (cores) | goal p95 ≤ {args.goal_ms:g} ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for s in scenarios:
        p50, p95, worst = percentile(s.timings, 0.50), percentile(s.timings, 0.95), max(s.timings)
        per_request = ", ".join(str(count) for count in sorted(s.queries))
        if not s.pages:
            pages = ""
        elif deep in s.pages:
            pages = f"{s.pages[1]} / {s.pages[deep]}"
        else:
            last = max(s.pages)
            pages = f"{s.pages[1]} / n/a (last page {last}: {s.pages[last]})"
        verdict = ("met" if p95 <= args.goal_ms else "**missed**") if s.goal else "(no goal)"
        lines.append(
            f"| {s.name} | {hits_text(s.hits)} | {p50:.1f} | {p95:.1f} | {worst:.1f} | {per_request} "
            f"| {pages} | {percentile(s.sql_ms, 0.5):.1f} | {s.cpu_ms:.0f} | {s.other_load:.2f} | {verdict} |"
        )
    return "\n".join(lines)


def wait_idle(meter: benchkit.CpuMeter, seconds: float) -> None:
    """Wait (at most ``seconds``) for a 2-second window in which other processes use < 0.25 cores."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before = meter.sample()
        time.sleep(2)
        if meter.other_cores(before, meter.sample()) < 0.25:
            return


# --- per team size (issue 13) -------------------------------------------------------------------------


def scale_scenarios(team, member, examples: dict[str, tuple[str, ...]]) -> list[Scenario]:
    """Page 1, deep cursors (95 % down the newest and oldest orders, and into the non-favourites), each
    sort, and searches of one team (the active team of the session)."""
    from django.db.models import Exists, OuterRef

    from generations.models import Image
    from library.models import Favourite
    from library.selectors import encode_cursor

    url = "/library/team/"
    images = Image.objects.filter(team=team)
    total = images.count()
    far = total * 95 // 100
    newest_far = images.order_by("-created_at", "-id")[far]
    oldest_far = images.order_by("created_at", "id")[far]
    favourites = Favourite.objects.filter(user=member, image_id=OuterRef("pk"))
    plain_far = images.exclude(Exists(favourites)).order_by("-created_at", "-id")[far * 9 // 10]
    newest_far.is_favourite = oldest_far.is_favourite = plain_far.is_favourite = False
    common = [url + query_string(q=q) for q in examples["common"]]
    return [
        Scenario("newest, page 1", [url]),
        Scenario(f"newest, cursor after {far:,}", [url + query_string(cursor=encode_cursor(newest_far))]),
        Scenario("oldest, page 1", [url + query_string(sort="oldest")]),
        Scenario(
            f"oldest, cursor after {far:,}",
            [url + query_string(sort="oldest", cursor=encode_cursor(oldest_far))],
        ),
        Scenario("favourites first, page 1", [url + query_string(sort="favourites")]),
        Scenario(
            "favourites first, deep in the rest",
            [url + query_string(sort="favourites", cursor=encode_cursor(plain_far))],
        ),
        Scenario("search, common word", common),
        Scenario("search, common word, page 5", common, depth=5),
        Scenario("search, rare word", [url + query_string(q=q) for q in examples["rare"]]),
        Scenario("search, two words", [url + query_string(q=q) for q in examples["two words"]]),
    ]


def ensure_scale_seeded(args: argparse.Namespace) -> tuple[dict[str, int], Seeding]:
    from generations.models import Image
    from teams.models import Team
    from tools.bulk_seeding import scale_team_name

    sizes = {scale_team_name(int(size)): int(size) for size in args.sizes.split(",") if size.strip()}
    counts = {}
    for name in sizes:
        team = Team.objects.filter(name=name).order_by("id").first()
        counts[name] = Image.objects.filter(team=team).count() if team else 0
    if all(counts[name] >= size for name, size in sizes.items()):
        print(f"reusing {', '.join(f'{n!r} {c:,}' for n, c in counts.items())} (--reseed to seed again)")
        return counts, Seeding(reused=True, images=sum(counts.values()))
    arguments = ["bench/seed_library.py", "--scale", f"--sizes={args.sizes}", f"--seed={args.seed}"]
    print(f"seeding: {shlex.join(arguments)}")
    output, wall = run_python(*arguments)
    total = re.search(r"total time .*", output)
    seeding = Seeding(
        reused=False,
        images=sum(sizes.values()),
        wall_seconds=wall,
        reported=total.group(0) if total else "",
        command="python " + shlex.join(arguments),
    )
    return sizes, seeding


def scale_table(results: list[tuple[str, int, list[Scenario]]], args: argparse.Namespace) -> str:
    lines = [
        "| team (images) | scenario | matches | p50 ms | p95 ms | max ms | SQL queries per request "
        f"| SQL ms per request (median) | other load (cores) | goal p95 ≤ {args.goal_ms:g} ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for name, images, scenarios in results:
        for s in scenarios:
            p50, p95 = percentile(s.timings, 0.50), percentile(s.timings, 0.95)
            verdict = "met" if p95 <= args.goal_ms else "**missed**"
            lines.append(
                f"| {name} ({images:,}) | {s.name} | {hits_text(s.hits)} | {p50:.1f} | {p95:.1f} "
                f"| {max(s.timings):.1f} | {', '.join(str(c) for c in sorted(s.queries))} "
                f"| {percentile(s.sql_ms, 0.5):.1f} | {s.other_load:.2f} | {verdict} |"
            )
    return "\n".join(lines)


def main_scale(args: argparse.Namespace) -> int:
    """``--scale``: every team size measured on its own, in one database."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    from teams.active import SESSION_KEY
    from teams.models import Team
    from tools.bulk_seeding import SHARED_MEMBER
    from tools.seeding import SEARCH_EXAMPLES

    sizes, seeding = ensure_scale_seeded(args)
    cache.clear()  # nothing left over from another database using the same cache
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    member = get_user_model().objects.get(username=SHARED_MEMBER)
    client = Client()
    client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    get(client, "/library/")  # opens the connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        meter = benchkit.CpuMeter(cursor.fetchone()[0]) if Path("/proc/stat").exists() else None
    results: list[tuple[str, int, list[Scenario]]] = []
    plans: list[str] = []
    for name, images in sizes.items():
        team = Team.objects.get(name=name)
        session = client.session
        session[SESSION_KEY] = str(team.code)
        session.save()
        scenarios = [s for s in scale_scenarios(team, member, SEARCH_EXAMPLES) if args.only in s.name]
        for scenario in scenarios:
            count_hits(scenario, member, team)
            if meter and args.wait_idle:
                wait_idle(meter, args.wait_idle)
            run_scenario(client, scenario, args, meter)
            print(
                f"{name} / {scenario.name}: p50 {percentile(scenario.timings, 0.5):.1f} ms, "
                f"p95 {percentile(scenario.timings, 0.95):.1f} ms, queries {sorted(scenario.queries)}, "
                f"other load {scenario.other_load:.2f} cores",
                flush=True,
            )
            plan = benchkit.slowest_query_plan(
                f"{name}: {scenario.name}", scenario.slowest_sql_ms, scenario.slowest_sql
            )
            print(plan, flush=True)
            plans.append(plan)
        results.append((name, images, scenarios))
    mine = Scenario("My images (personal + own team images)", ["/library/"])
    count_hits(mine, member, None)
    run_scenario(client, mine, args, meter)
    results.append(("scale-member", mine.hits[0], [mine]))
    plans.append(
        benchkit.slowest_query_plan(f"scale-member: {mine.name}", mine.slowest_sql_ms, mine.slowest_sql)
    )

    env = benchkit.environment()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True
    ).stdout.strip()
    report = [
        f"Date: {env['date']}, commit {commit}  ",
        f"Machine: {env['machine']}  ",
        f"Software: {env['software']}  ",
        f"PostgreSQL settings: {env['settings']}  ",
        f"Load average (1/5/15 min) at the end: {env['load']}; 'other load' is the CPU other processes used "
        "while a scenario was timed.  ",
        f"Server time in-process (Django test Client: SQL + template rendering, no network), logged in as "
        f"{SHARED_MEMBER} (a member of every team, with personal images), each team active in turn; "
        f"{args.warmup} warm-up + {args.requests} timed requests per scenario; "
        f"database {args.database} ({'reused' if seeding.reused else 'seeded by this run'}).",
    ]
    if not seeding.reused:
        report.append(f"Seeding: `{seeding.command}` took {seeding.wall_seconds:.1f} s ({seeding.reported}).")
    report += ["", scale_table(results, args)]
    text = "\n".join(report)
    print()
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n" + "\n".join(plans) + "\n")
    missed = [
        f"{name}: {s.name}"
        for name, _, scenarios in results
        for s in scenarios
        if percentile(s.timings, 0.95) > args.goal_ms
    ]
    if missed:
        print(f"\nmissed the p95 goal of {args.goal_ms:g} ms: {'; '.join(missed)}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["DATABASE_URL"] = ensure_database(args)
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # no log line per request on the console
    os.environ.setdefault("DJANGO_STATIC_MANIFEST", "0")  # {% static %} without running collectstatic
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixelgallery.settings")
    os.chdir(PROJECT_ROOT)
    print("migrating: manage.py migrate")
    run_python("manage.py", "migrate", "--no-input", "-v", "0")

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from teams.active import SESSION_KEY
    from teams.models import Team
    from tools.seeding import SEARCH_EXAMPLES, member_usernames

    if args.scale:
        return main_scale(args)
    seeding = ensure_seeded(args)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    team = Team.objects.filter(name=args.team).order_by("id").first()
    username = member_usernames(args.team, args.members)[args.member - 1]
    member = get_user_model().objects.get(username=username)
    client = Client()
    client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session[SESSION_KEY] = str(team.code)
    session.save()

    get(client, "/library/team/")  # opens the connection
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        meter = benchkit.CpuMeter(cursor.fetchone()[0]) if Path("/proc/stat").exists() else None

    far = args.images * 95 // 100
    scenarios = build_scenarios(SEARCH_EXAMPLES, args.page, (far, far_cursor(team, far)))
    scenarios = [s for s in scenarios if args.only.lower() in s.name.lower()]
    for scenario in scenarios:
        count_hits(scenario, member, team)
        if meter and args.wait_idle:
            wait_idle(meter, args.wait_idle)
        started = time.perf_counter()
        run_scenario(client, scenario, args, meter)
        print(
            f"{scenario.name}: p50 {percentile(scenario.timings, 0.5):.1f} ms, "
            f"p95 {percentile(scenario.timings, 0.95):.1f} ms, CPU {scenario.cpu_ms:.0f} ms/request, "
            f"other load {scenario.other_load:.2f} cores "
            f"({time.perf_counter() - started:.1f} s, {scenario.tiles} tiles)",
            flush=True,
        )

    env = benchkit.environment()
    report = [
        f"Date: {env['date']}  ",
        f"Machine: {env['machine']}  ",
        f"Software: {env['software']}  ",
        f"PostgreSQL settings: {env['settings']}  ",
        f"Load average (1/5/15 min) at the end: {env['load']}. 'CPU ms' is the CPU time this process and its "
        "database backend spent per timed request; 'other load' the CPU other processes used meanwhile.  ",
        f"Library: {seeding.images:,} images in team {args.team!r}, logged in as {username} "
        f"({'reused' if seeding.reused else 'seeded by this run'}); "
        f"{args.warmup} warm-up + {args.requests} timed requests per scenario.",
    ]
    if not seeding.reused:
        report.append(
            f"Seeding: `{seeding.command}` took {seeding.wall_seconds:.1f} s wall ({seeding.reported})."
        )
    report += ["", table(scenarios, args)]
    text = "\n".join(report)
    print()
    print(text)

    missed = [s for s in scenarios if s.goal and percentile(s.timings, 0.95) > args.goal_ms]
    explained = scenarios if args.explain else missed
    plans = []
    for scenario in explained:
        plans.append(
            benchkit.slowest_query_plan(scenario.name, scenario.slowest_sql_ms, scenario.slowest_sql)
        )
    if plans:
        print("\n".join(plans))
    if args.markdown:
        args.markdown.write_text(text + "\n" + "\n".join(plans) + "\n")
    if missed:
        print(f"\nmissed the p95 goal of {args.goal_ms:g} ms: {', '.join(s.name for s in missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
