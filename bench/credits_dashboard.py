"""Credits dashboard speed: server time of the team's credits page over a 1,000,000-row ledger.

    .venv/bin/python bench/credits_dashboard.py [--rows 1000000] [--requests 100] [--reseed] [--explain]

* Uses the PostgreSQL database ``--database`` (default ``pixelgallery_credits_bench``) on 127.0.0.1:5432,
  creating it when missing (``--reseed`` drops and recreates it), and migrates it (``manage.py migrate`` with
  ``DATABASE_URL`` set).
* Seeds, with PostgreSQL ``COPY`` through psycopg, one team of ``--members`` members (an owner, admins,
  members, viewers) and ``--rows`` ledger rows over the last ``--days`` days: charges (1 credit each) of
  ``--generations`` generations whose prompts are drawn (skewed, as real teams repeat favourites) from
  ``--prompts`` distinct prompts over 4 models, about 0.5 % refunds and a monthly top-up. Ledger rows do not
  point to Image rows (the dashboards never read them). Then ``spend_rollup_rebuild()`` builds the daily
  roll-up and ``VACUUM ANALYZE`` sets the statistics and visibility map (as autovacuum would). Each step is
  timed. An existing seed of the same size is reused.
* Serves requests in-process with Django's test ``Client`` (no network, no web server; one persistent database
  connection), logged in as the team's owner with the team active in the session. Per scenario: ``--warmup``
  requests, then ``--requests`` timed requests; p50/p95/max in ms of the time ``Client.get`` takes, the SQL
  queries per request (``CaptureQueriesContext``) and their summed time, and the slowest query.
* Prints a markdown table (``--markdown FILE`` also writes it); scenarios whose p95 misses ``--goal-ms``
  (all of them with ``--explain``) get ``EXPLAIN (ANALYZE, BUFFERS)`` of their slowest query; the
  top-prompts query is always explained.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tools import benchkit  # noqa: E402

TEAM = "Credits Bench"
MODELS = ("flux-pro", "flux-1.1-pro", "flux-1.1-pro-ultra", "flux-dev-single-lora")
ROLES = ("owner", "admin", "admin", "member", "member", "member", "member", "member", "viewer", "viewer")
SUBJECTS = (
    "lighthouse", "red fox", "harbour", "tea house", "glass city", "old tram", "koi pond", "night market",
    "mountain hut", "desert road", "orchard", "robot gardener", "paper crane", "violin maker", "ice cave",
    "library", "clockwork owl", "street cat", "fishing boat", "space station",
)  # fmt: skip
STYLES = (
    "oil painting", "watercolour", "35mm photo", "isometric render", "ink sketch", "pixel art", "gouache",
    "cinematic still", "linocut print", "studio portrait",
)  # fmt: skip
MOODS = ("at dawn", "in the rain", "under violet fog", "at golden hour", "in deep snow", "at midnight")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger rows (1000000)")
    parser.add_argument("--generations", type=int, default=100_000, help="generations charged (100000)")
    parser.add_argument("--prompts", type=int, default=20_000, help="distinct prompts (20000)")
    parser.add_argument("--members", type=int, default=10, help="team members (10)")
    parser.add_argument("--days", type=int, default=365, help="days the ledger covers (365)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--reseed", action="store_true", help="drop the database and seed again")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per scenario (100)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per scenario first (10)")
    parser.add_argument("--sql-samples", type=int, default=3, help="captured requests per scenario (3)")
    parser.add_argument("--goal-ms", type=float, default=150.0, help="p95 goal of the team page (150)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE every scenario")
    benchkit.add_database_arguments(parser, default_database="pixelgallery_credits_bench")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    return parser.parse_args(argv)


# --- database -----------------------------------------------------------------------------------------


def ensure_database(args: argparse.Namespace) -> str:
    """The benchmark's own database (created when missing; ``--reseed`` drops it first); its URL."""
    return benchkit.ensure_database(
        host=args.host, port=args.port, user=args.user, database=args.database, reseed=args.reseed
    )


def manage(*arguments: str) -> float:
    """Run ``manage.py`` with this process's environment; return the wall time."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", *arguments], cwd=PROJECT_ROOT, check=True)
    return time.perf_counter() - started


# --- seeding ------------------------------------------------------------------------------------------


@dataclass
class Seeding:
    reused: bool
    rows: int
    generations: int = 0
    steps: dict[str, float] = field(default_factory=dict)  # step → seconds


def copy_rows(model, rows) -> int:
    """COPY dicts of ``attname → value`` into ``model``'s table; unset fields take their Python default."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    statics = {f.attname: f.get_default() for f in fields if not callable(f.default)}
    dynamic = [f for f in fields if callable(f.default)]
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        with raw.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                values = {**statics, **{f.attname: f.get_default() for f in dynamic if f.attname not in row}}
                values.update(row)
                copy.write_row([values[f.attname] for f in fields])
                count += 1
    return count


def prompt_text(number: int) -> str:
    pick = random.Random(number)
    return (
        f"{pick.choice(SUBJECTS)} {pick.choice(MOODS)}, {pick.choice(STYLES)}, "
        f"{pick.choice(('soft light', 'high contrast', 'muted palette', 'vivid colours'))} #{number}"
    )


def seed(args: argparse.Namespace) -> Seeding:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from credits.models import DailyPromptSpend, DailySpend, LedgerEntry
    from credits.services import spend_rollup_rebuild
    from generations.models import Generation
    from teams.models import Membership, Team

    team = Team.objects.filter(name=TEAM).first()
    if team is not None:
        rows = LedgerEntry.objects.filter(team=team).count()
        if rows >= args.rows:
            print(f"reusing {rows:,} ledger rows of team {TEAM!r} (--reseed to seed again)")
            return Seeding(reused=True, rows=rows, generations=Generation.objects.filter(team=team).count())
        raise SystemExit(f"team {TEAM!r} has {rows:,} rows, fewer than --rows: run with --reseed")

    rng = random.Random(args.seed)
    seeding = Seeding(reused=False, rows=0)
    started = time.perf_counter()
    User = get_user_model()
    with transaction.atomic():
        users = [
            User.objects.create_user(f"bench{n:02d}", f"bench{n:02d}@example.com", None)
            for n in range(args.members)
        ]
        team = Team.objects.create(name=TEAM, created_by=users[0])
        Membership.objects.bulk_create(
            Membership(team=team, user=user, role=ROLES[n] if n < len(ROLES) else "member")
            for n, user in enumerate(users)
        )
    now = timezone.now()
    first = now - timedelta(days=args.days)
    span = (now - first).total_seconds()
    weights = [1.0 / (n + 1) ** 0.5 for n in range(args.members)]  # some members generate far more

    # Generations, oldest first: (id order follows time, as in production).
    times = sorted(first + timedelta(seconds=rng.random() * span) for _ in range(args.generations))
    authors = rng.choices(range(args.members), weights=weights, k=args.generations)

    def generation_rows():
        for n, created in enumerate(times):
            prompt = int(args.prompts * rng.random() ** 3)  # skewed: favourites come back often
            yield {
                "code": uuid.UUID(int=rng.getrandbits(128), version=4),
                "user_id": users[authors[n]].id,
                "team_id": team.id,
                "prompt": prompt_text(prompt),
                "model": MODELS[prompt % len(MODELS)],
                "aspect_ratio": "1:1",
                "num_outputs": 4,
                "status": "done",
                "provider_id": f"bench-{n}",
                "created_at": created,
                "updated_at": created,
                "finished_at": created + timedelta(seconds=20),
            }

    step = time.perf_counter()
    with transaction.atomic():
        seeding.generations = copy_rows(Generation, generation_rows())
    seeding.steps["generations (COPY)"] = time.perf_counter() - step
    generations = list(
        Generation.objects.filter(team=team).order_by("id").values_list("id", "user_id", "model")
    )

    def ledger_rows():
        per_generation, extra = divmod(args.rows, len(generations))
        written = 0
        for n, (generation_id, user_id, model) in enumerate(generations):
            created = times[n]
            charges = per_generation + (1 if n < extra else 0)
            for image in range(charges):
                refund = rng.random() < 0.005
                written += 1
                yield {
                    "kind": "refund" if refund else "charge",
                    "user_id": user_id,
                    "team_id": team.id,
                    "generation_id": generation_id,
                    "image_id": None,
                    "model": model,
                    "credits": -1 if refund else 1,
                    "note": "bench refund" if refund else "",
                    "created_by_id": users[0].id if refund else None,
                    "created_at": created + timedelta(seconds=30 + image),
                }
        month = first.replace(day=1, hour=9, minute=0, second=0, microsecond=0)
        monthly = args.rows * 31 // args.days + 1
        while month < now:
            if month >= first:
                yield {
                    "kind": "top_up",
                    "user_id": users[0].id,
                    "team_id": team.id,
                    "credits": monthly,
                    "note": f"plan {month:%Y-%m}",
                    "created_by_id": users[0].id,
                    "created_at": month,
                }
            month = (month + timedelta(days=32)).replace(day=1)

    step = time.perf_counter()
    with transaction.atomic():
        seeding.rows = copy_rows(LedgerEntry, ledger_rows())
    seeding.steps["ledger rows (COPY)"] = time.perf_counter() - step

    step = time.perf_counter()
    rollup = spend_rollup_rebuild()
    prompt_rows = DailyPromptSpend.objects.count()
    seeding.steps[f"spend_rollup_rebuild() ({rollup:,} daily + {prompt_rows:,} per-prompt rows)"] = (
        time.perf_counter() - step
    )

    step = time.perf_counter()
    with connection.cursor() as cursor:
        for model in (Generation, LedgerEntry, DailySpend, DailyPromptSpend):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    seeding.steps["VACUUM ANALYZE"] = time.perf_counter() - step
    seeding.steps["total"] = time.perf_counter() - started
    for name, seconds in seeding.steps.items():
        print(f"  {name}: {seconds:.1f} s")
    return seeding


# --- measuring ----------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    url: str
    goal: bool = True
    timings: list[float] = field(default_factory=list)
    queries: set[int] = field(default_factory=set)
    sql_ms: list[float] = field(default_factory=list)
    slowest_sql: str = ""
    slowest_sql_ms: float = 0.0
    other_load: float = 0.0  # CPU cores busy with other processes while timing


percentile = benchkit.percentile


def get(client, url: str):
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")
    if response.streaming:
        b"".join(response.streaming_content)
    return response


def run(client, scenario: Scenario, args: argparse.Namespace, meter: benchkit.CpuMeter | None) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(args.warmup):
        get(client, scenario.url)
    before = meter.sample() if meter else None
    for _ in range(args.requests):
        started = time.perf_counter()
        get(client, scenario.url)
        scenario.timings.append((time.perf_counter() - started) * 1000)
    if meter and before:
        scenario.other_load = meter.other_cores(before, meter.sample())
    for _ in range(args.sql_samples):
        with CaptureQueriesContext(connection) as context:
            get(client, scenario.url)
        queries = [(float(q["time"]) * 1000, q["sql"]) for q in context.captured_queries]
        scenario.queries.add(len(queries))
        scenario.sql_ms.append(sum(ms for ms, _ in queries))
        ms, sql = max(queries)
        if ms >= scenario.slowest_sql_ms:
            scenario.slowest_sql_ms, scenario.slowest_sql = ms, sql


def top_prompts_plan(team_id: int, days: int) -> str:
    """EXPLAIN ANALYZE of the top-prompts queries as the dashboard runs them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from credits.selectors import team_top_prompts

    today = timezone.localdate()
    with CaptureQueriesContext(connection) as context:
        team_top_prompts(team_id=team_id, since=today - timedelta(days=days - 1), until=today)
    return "\n\n".join(
        f"```sql\n{query['sql']}\n```\n\n```\n{benchkit.explain(query['sql'])}\n```"
        for query in context.captured_queries
    )


def table_sizes() -> str:
    """The ledger table, its indexes and the roll-ups: sizes for the report."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(pg_relation_size('credits_ledgerentry')), string_agg(format('%s %s', "
            "c.relname, pg_size_pretty(pg_relation_size(c.oid))), ', ' ORDER BY c.relname) "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'credits_ledgerentry'::regclass"
        )
        ledger_size, index_sizes = cursor.fetchone()
        cursor.execute(
            "SELECT (SELECT count(*) FROM credits_dailyspend), "
            "pg_size_pretty(pg_total_relation_size('credits_dailyspend')), "
            "(SELECT count(*) FROM credits_dailypromptspend), "
            "pg_size_pretty(pg_total_relation_size('credits_dailypromptspend'))"
        )
        daily_rows, daily_size, prompt_rows, prompt_size = cursor.fetchone()
    return (
        f"ledger table {ledger_size}; its indexes: {index_sizes}; roll-ups: DailySpend "
        f"{daily_rows:,} rows ({daily_size}), DailyPromptSpend {prompt_rows:,} rows ({prompt_size})"
    )


def table(scenarios: list[Scenario], goal_ms: float) -> str:
    lines = [
        "| scenario | p50 ms | p95 ms | max ms | SQL queries per request | SQL ms per request (median) "
        f"| slowest query ms | other load (cores) | goal p95 ≤ {goal_ms:g} ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for s in scenarios:
        p95 = percentile(s.timings, 0.95)
        verdict = ("met" if p95 <= goal_ms else "**missed**") if s.goal else "(no goal)"
        lines.append(
            f"| {s.name} | {percentile(s.timings, 0.5):.1f} | {p95:.1f} | {max(s.timings):.1f} "
            f"| {', '.join(str(q) for q in sorted(s.queries))} | {percentile(s.sql_ms, 0.5):.1f} "
            f"| {s.slowest_sql_ms:.1f} | {s.other_load:.2f} | {verdict} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["DATABASE_URL"] = ensure_database(args)
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ["DJANGO_SECURE"] = "0"  # no HTTPS redirect for the in-process client
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_STATIC_MANIFEST", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixelgallery.settings")
    os.chdir(PROJECT_ROOT)
    print("migrating: manage.py migrate")
    migrate_seconds = manage("migrate", "--no-input", "-v", "0")

    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    from teams.active import SESSION_KEY
    from teams.models import Membership, Team

    seeding = seed(args)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    team = Team.objects.get(name=TEAM)
    owner = Membership.objects.get(team=team, role="owner").user
    client = Client()
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session[SESSION_KEY] = str(team.code)
    session.save()

    today = datetime.now().date()
    scenarios = [
        Scenario("Team dashboard, last 30 days", "/credits/team/?days=30"),
        Scenario("Team dashboard, last 90 days", "/credits/team/?days=90"),
        Scenario("Your credits (owner), last 30 days", "/credits/?days=30"),
        Scenario("Your credits (owner), last 90 days", "/credits/?days=90"),
        Scenario(
            "CSV export, this month (streamed to the end)",
            f"/credits/team/export.csv?from={today.replace(day=1)}&to={today}",
            goal=False,
        ),
    ]
    get(client, "/credits/")  # opens the connection
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        meter = benchkit.CpuMeter(cursor.fetchone()[0]) if Path("/proc/stat").exists() else None
    for scenario in scenarios:
        started = time.perf_counter()
        run(client, scenario, args, meter)
        print(
            f"{scenario.name}: p50 {percentile(scenario.timings, 0.5):.1f} ms, "
            f"p95 {percentile(scenario.timings, 0.95):.1f} ms, other load {scenario.other_load:.2f} cores "
            f"({time.perf_counter() - started:.1f} s)",
            flush=True,
        )

    env = benchkit.environment(sizes=table_sizes())
    report = [
        f"Date: {env['date']}  ",
        f"Machine: {env['machine']}  ",
        f"Software: {env['software']}  ",
        f"PostgreSQL settings: {env['settings']}  ",
        f"Sizes: {env['sizes']}  ",
        f"Load average (1/5/15 min) at the end: {env['load']}  ",
        f"Data: {seeding.rows:,} ledger rows of team {TEAM!r} ({seeding.generations:,} generations, "
        f"{args.prompts:,} distinct prompts, {args.members} members, {args.days} days; "
        f"{'reused' if seeding.reused else 'seeded by this run'}); logged in as the owner; "
        f"{args.warmup} warm-up + {args.requests} timed requests per scenario.",
    ]
    if not seeding.reused:
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in seeding.steps.items())
        report.append(f"Seeding: migrate {migrate_seconds:.1f} s; {steps}.")
    report += ["", table(scenarios, args.goal_ms)]
    plans = []
    for days in (30, 90):
        plans.append(f"\n### Top prompts, last {days} days\n\n{top_prompts_plan(team.id, days)}")
    missed = [s for s in scenarios if s.goal and percentile(s.timings, 0.95) > args.goal_ms]
    for scenario in scenarios if args.explain else missed:
        plans.append(
            benchkit.slowest_query_plan(scenario.name, scenario.slowest_sql_ms, scenario.slowest_sql)
        )
    text = "\n".join(report) + "\n" + "\n".join(plans) + "\n"
    print()
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if missed:
        print(f"missed the p95 goal of {args.goal_ms:g} ms: {', '.join(s.name for s in missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
