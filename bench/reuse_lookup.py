"""Reuse lookup speed (issue 16): ``generations.selectors.reusable_generation`` over a 100,000-image team.

    .venv/bin/python bench/reuse_lookup.py [--images 100000] [--lookups 500] [--keep] [--markdown FILE]

* Creates the PostgreSQL database ``--database`` (default ``bench_reuse``) on 127.0.0.1:5432 afresh, migrates
  it (``manage.py migrate`` with ``DATABASE_URL`` set), seeds one team of ``--images`` images with
  ``tools/seeding.py`` (as ``bench/seed_library.py`` does: ~30 % of generations with a fixed seed, 8
  members, a year of history), moves every fifth generation (and its images) to its author's personal
  space, then gives the seeded rows their reuse keys with the back-fill the migration
  runs (``generations.fingerprints.fingerprints_backfill``, timed) and ANALYZEs.
* Times ``--lookups`` calls per scenario, in-process, as one member of the team (memberships loaded once, as
  a request does): a key the team has (a finished generation, every image stored: it is found), a key
  nobody has (a miss), a key of the member's own personal work in the personal space (found), and the
  team's key asked for in the member's personal space (scoped out). Each call
  is one SQL query (checked); p50/p95/max in ms of the call (Python, the driver and PostgreSQL), and of
  the query's execution in PostgreSQL alone (``EXPLAIN ANALYZE`` of up to 200 of the lookups' statements).
* Prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the lookup, and exits 1 unless it uses the
  ``generation_fingerprint`` index. Drops the database at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tools import benchkit  # noqa: E402

TEAM = "Reuse Bench"
INDEX = "generation_fingerprint"
PERSONAL_EVERY = 5  # every fifth generation is moved to its author's personal space
SERVER_SAMPLES = 200  # lookups per scenario whose execution in PostgreSQL is measured (EXPLAIN ANALYZE)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=100_000, help="images in the team (100000)")
    parser.add_argument("--lookups", type=int, default=500, help="timed lookups per scenario (500)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed lookups per scenario first (50)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    benchkit.add_database_arguments(parser, default_database="bench_reuse")
    return parser.parse_args(argv)


def manage(*arguments: str) -> float:
    """Run ``manage.py`` with this process's environment; return the wall time."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", *arguments], cwd=PROJECT_ROOT, check=True)
    return time.perf_counter() - started


def drop_database(args: argparse.Namespace) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=args.host, port=args.port, user=args.user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args.database)))
    benchkit.log(f"dropped database {args.database}")


def time_lookups(lookup, keys: list[str], *, warmup: int) -> tuple[list[float], list[float], list[int], int]:
    """(ms per call, ms of SQL per call as the driver saw it, SQL queries per call, calls that found a
    generation)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for key in keys[:warmup]:
        lookup(key)
    timings, statements, queries, found = [], [], [], 0
    for key in keys:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            result = lookup(key)
            timings.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured.captured_queries))
        statements += [query["sql"] for query in captured.captured_queries]
        found += result is not None
    return timings, server_times(statements[:SERVER_SAMPLES]), queries, found


def server_times(statements: list[str]) -> list[float]:
    """Each statement's execution time in PostgreSQL (``EXPLAIN ANALYZE``'s), in ms: the query's own cost,
    apart from the client's and the scheduler's."""
    times = []
    for sql in statements:
        found = re.search(r"Execution Time: ([0-9.]+) ms", benchkit.explain(sql))
        times.append(float(found.group(1)) if found else float("nan"))
    return times


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    os.environ["DATABASE_URL"] = benchkit.ensure_database(
        host=args.host, port=args.port, user=args.user, database=args.database, reseed=True
    )
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixelgallery.settings")
    try:
        return run(args, rng)
    finally:
        if not args.keep:
            from django.apps import apps
            from django.db import connections

            if apps.ready:
                connections.close_all()
            drop_database(args)


def run(args: argparse.Namespace, rng: random.Random) -> int:
    benchkit.log("migrating: manage.py migrate")
    migrate_seconds = manage("migrate", "--no-input", "-v", "0")
    import django

    django.setup()
    from django.db import connection

    from generations.fingerprints import fingerprints_backfill
    from generations.models import Generation, Image
    from generations.selectors import reusable_generation
    from teams.permissions import memberships_of
    from tools.seeding import analyze, seed_library

    benchkit.log(f"seeding {args.images:,} images into {TEAM!r}")
    report = seed_library(
        team_name=TEAM, images=args.images, seed=args.seed, run_analyze=False, progress=benchkit.log
    )
    with connection.cursor() as cursor:  # a fifth of the work becomes its authors' personal work
        cursor.execute(
            "UPDATE generations_generation SET team_id = NULL WHERE team_id = %s AND id %% %s = 0",
            [report.team.id, PERSONAL_EVERY],
        )
        cursor.execute(
            "UPDATE generations_image SET team_id = NULL WHERE team_id = %s AND generation_id %% %s = 0",
            [report.team.id, PERSONAL_EVERY],
        )
    started = time.perf_counter()
    keyed = fingerprints_backfill(Generation)
    backfill_seconds = time.perf_counter() - started
    benchkit.log(f"back-fill: {keyed:,} generations keyed in {backfill_seconds:.1f} s")
    analyze()

    team, member = report.team, report.members[0]
    memberships_of(member)  # loaded once per request, as every page does
    generations = Generation.objects.count()
    images = Image.objects.count()
    personal_images = Image.objects.filter(team__isnull=True).count()
    reusable = (
        Generation.objects.filter(status="done")
        .exclude(fingerprint="")
        .exclude(images__status__in=["expired", "failed", "pending"])
    )
    stored_keys = list(reusable.filter(team=team).values_list("fingerprint", flat=True).distinct())
    own_keys = list(
        reusable.filter(team__isnull=True, user=member).values_list("fingerprint", flat=True).distinct()
    )
    hits = [rng.choice(stored_keys) for _ in range(args.lookups)]
    own_hits = [rng.choice(own_keys) for _ in range(args.lookups)]
    misses = [f"{rng.getrandbits(256):064x}" for _ in range(args.lookups)]

    def in_team(key: str):
        return reusable_generation(user=member, team=team, fingerprint=key)

    def personal(key: str):
        return reusable_generation(user=member, team=None, fingerprint=key)

    scenarios = [
        ("a key the team has (found)", in_team, hits),
        ("a key nobody has (miss)", in_team, misses),
        ("a key of the member's own, personal space (found)", personal, own_hits),
        ("the team's key, personal space (scoped out)", personal, hits),
    ]
    rows = []
    for name, lookup, keys in scenarios:
        before = benchkit.CpuMeter(connection.connection.info.backend_pid)
        sample = before.sample()
        timings, sql_ms, queries, found = time_lookups(lookup, keys, warmup=args.warmup)
        other = before.other_cores(sample, before.sample())
        rows.append((name, timings, sql_ms, sorted(set(queries)), found, len(keys), other))
        benchkit.log(f"{name}: p95 {benchkit.percentile(timings, 0.95):.2f} ms")

    from django.test.utils import CaptureQueriesContext

    plans = []
    for name, lookup, key in (
        ("in the team", in_team, hits[0]),
        ("in the personal space", personal, own_hits[0]),
    ):
        with CaptureQueriesContext(connection) as captured:
            lookup(key)
        sql = captured.captured_queries[0]["sql"]
        plans.append((name, sql, benchkit.explain(sql)))
    uses_index = all(INDEX in plan for _, _, plan in plans)

    environment = benchkit.environment(commit=benchkit.commit(PROJECT_ROOT))
    lines = [f"- {name}: {value}" for name, value in environment.items()]
    lines += [
        f"- data: {images:,} images ({personal_images:,} of them personal work of the team's "
        f"{len(report.members)} members, the rest in team {TEAM!r}), {generations:,} generations, {keyed:,} "
        f"with a reuse key ({len(stored_keys):,} distinct keys of the team's finished generations with every "
        f"image stored; {len(own_keys):,} of the timed member's personal ones)",
        f"- setup: migrate {migrate_seconds:.1f} s, seeding {report.seconds:.1f} s, back-fill of the keys "
        f"{backfill_seconds:.1f} s",
        "",
        "| scenario | lookups | found | SQL queries per lookup | p50 ms | p95 ms | max ms "
        "| in PostgreSQL p50 ms "
        "| in PostgreSQL p95 ms | other load (cores) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, timings, sql_ms, queries, found, count, other in rows:
        lines.append(
            f"| {name} | {count} | {found} | {', '.join(map(str, queries))} "
            f"| {benchkit.percentile(timings, 0.5):.2f} | {benchkit.percentile(timings, 0.95):.2f} "
            f"| {max(timings):.2f} | {benchkit.percentile(sql_ms, 0.5):.3f} "
            f"| {benchkit.percentile(sql_ms, 0.95):.3f} | {other:.2f} |"
        )
    for name, sql, plan in plans:
        lines += ["", f"The lookup {name}:", "", "```sql", sql, "```", "", "```", plan, "```"]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if not uses_index:
        print(f"FAIL: the lookup does not use the {INDEX} index", file=sys.stderr)
        return 1
    if any(queries != [1] for _, _, _, queries, *_ in rows):
        print("FAIL: a lookup took more than one query", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
