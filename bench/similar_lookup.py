"""Similar images at 100,000: "visually similar to this image" through the hash bands against a full scan.

    .venv/bin/python bench/similar_lookup.py [--images 100000] [--lookups 200] [--clusters 2000]
        [--database bench_similar] [--keep] [--markdown FILE]

* Creates its own PostgreSQL database (``--database``, default ``bench_similar``, on 127.0.0.1:5432 as user
  postgres), migrates it, and drops it at the end unless ``--keep``.
* Seeds a team of ``--images`` images and a second team of a tenth of that (``tools/bulk_seeding.py``,
  ``INSERT … SELECT generate_series``), then gives every image a perceptual hash in one ``COPY`` and one
  ``UPDATE``: random 64-bit hashes, except ``--clusters`` planted clusters of 5 images each (a centre and 4
  near-duplicates 1 to 10 bits from it), as re-rolls of one idea are. VACUUM ANALYZE.
* Times ``library.selectors_similar.similar_images`` (what the image page calls: the band lookup, exact
  distances in Python, then the nearest 8 with their generations) for ``--lookups`` random images of the big
  team, half of them cluster members, logged in as a member: p50 / p95 / max in ms, the candidates read per
  lookup, and whether each answer equals a full scan's (every hash of the team compared in Python).
* Times the full scan in SQL for comparison: ``bit_count((phash # q)::bit(64)) <= 10`` over the team.
* Prints ``EXPLAIN (ANALYZE, BUFFERS)`` of both (the band lookup must use the ``image_team_band*`` indexes,
  not a sequential scan), the load average before and after, and writes a markdown report with
  ``--markdown``.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tools import benchkit  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=100_000, help="images in the measured team (100000)")
    parser.add_argument("--lookups", type=int, default=200, help="timed lookups (200)")
    parser.add_argument("--clusters", type=int, default=2_000, help="planted clusters of 5 images (2000)")
    parser.add_argument("--scans", type=int, default=20, help="timed full scans in SQL (20)")
    parser.add_argument("--seed", type=int, default=13, help="random seed (13)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    benchkit.add_database_arguments(parser, default_database="bench_similar")
    return parser.parse_args(argv)


def flip(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


def planted_hashes(count: int, clusters: int, rng: random.Random) -> tuple[list[int], set[int]]:
    """``count`` unsigned hashes: ``clusters`` clusters of 5 (a centre, 4 within 1..10 bits), then random
    ones, shuffled; and the positions of the cluster members."""
    hashes: list[int] = []
    for _ in range(min(clusters, count // 5)):
        centre = rng.getrandbits(64)
        hashes.append(centre)
        hashes.extend(flip(centre, rng.sample(range(64), rng.randint(1, 10))) for _ in range(4))
    planted = len(hashes)
    hashes.extend(rng.getrandbits(64) for _ in range(count - planted))
    order = list(range(count))
    rng.shuffle(order)
    shuffled = [hashes[i] for i in order]
    members = {position for position, original in enumerate(order) if original < planted}
    return shuffled, members


def give_hashes(team_id: int, hashes: list[int]) -> int:
    """Write ``hashes`` to the team's images in id order: one COPY into a temporary table, one UPDATE."""
    from django.db import connection, transaction

    from generations.similarity import bands, to_signed

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT id FROM generations_image WHERE team_id = %s ORDER BY id", [team_id])
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "CREATE TEMP TABLE hashes (id bigint, phash bigint, b0 int, b1 int, b2 int, b3 int) "
            "ON COMMIT DROP"
        )
        buffer = io.StringIO()
        for image_id, value in zip(ids, hashes, strict=False):
            row = (image_id, to_signed(value), *bands(value))
            buffer.write("\t".join(map(str, row)) + "\n")
        with cursor.cursor.copy("COPY hashes FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        cursor.execute(
            "UPDATE generations_image AS i SET phash = h.phash, phash_band0 = h.b0, phash_band1 = h.b1, "
            "phash_band2 = h.b2, phash_band3 = h.b3 FROM hashes AS h WHERE h.id = i.id"
        )
        return cursor.rowcount


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = benchkit.ensure_database(
        host=args.host, port=args.port, user=args.user, database=args.database, reseed=True
    )
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixelgallery.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    load_before = benchkit.load_average()
    try:
        return run(args, load_before)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            import psycopg
            from psycopg import sql

            with psycopg.connect(
                host=args.host, port=args.port, user=args.user, dbname="postgres", autocommit=True
            ) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args.database))
                )
            benchkit.log(f"dropped database {args.database}")


def run(args: argparse.Namespace, load_before: str) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Q

    from generations.models import Image
    from generations.similarity import SIMILAR_DISTANCE, distance
    from library.selectors_similar import band_candidates, similar_images
    from teams.models import Membership
    from teams.permissions import memberships_of
    from tools.bulk_seeding import seed_scale
    from tools.seeding import analyze

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    benchkit.log(f"migrated in {time.perf_counter() - started:.1f} s")
    phase = time.perf_counter()
    big, small = f"Similar {args.images}", f"Similar {args.images // 10}"
    seed_scale(sizes={big: args.images, small: args.images // 10}, personal=0, seed=args.seed)
    seeding = time.perf_counter() - phase
    benchkit.log(f"seeded {args.images + args.images // 10:,} images in {seeding:.1f} s")

    from teams.models import Team

    team = Team.objects.get(name=big)
    other = Team.objects.get(name=small)
    rng = random.Random(args.seed)
    count = Image.objects.filter(team=team).count()
    hashes, members = planted_hashes(count, args.clusters, rng)
    phase = time.perf_counter()
    written = give_hashes(team.id, hashes)
    other_count = Image.objects.filter(team=other).count()
    written += give_hashes(other.id, [rng.getrandbits(64) for _ in range(other_count)])
    analyze()
    hashing = time.perf_counter() - phase
    benchkit.log(f"hashed {written:,} images (COPY + UPDATE + VACUUM ANALYZE) in {hashing:.1f} s")

    member = Membership.objects.filter(team=team).select_related("user").first().user
    memberships_of(member)
    ids = list(Image.objects.filter(team=team).order_by("id").values_list("id", flat=True))
    by_position = dict(enumerate(ids))
    member_ids = [by_position[p] for p in sorted(members)]
    others = [image_id for p, image_id in by_position.items() if p not in members]
    chosen = rng.sample(member_ids, args.lookups // 2) + rng.sample(others, args.lookups - args.lookups // 2)
    rng.shuffle(chosen)
    images = Image.objects.in_bulk(chosen)
    every = list(Image.objects.filter(team=team).values_list("id", "phash"))
    in_team = Q(team_id=team.id)

    for image_id in chosen[:10]:  # warm-up: caches and connections, as a running site has them
        similar_images(user=member, image=images[image_id])
    timings: list[float] = []
    candidates: list[int] = []
    found: list[int] = []
    exact = 0
    for image_id in chosen:
        image = images[image_id]
        tick = time.perf_counter()
        near = similar_images(user=member, image=image)
        timings.append((time.perf_counter() - tick) * 1000)
        candidates.append(band_candidates(in_team, image.phash).exclude(id=image.id).count())
        found.append(len(near))
        scanned = sorted(
            (d, other_id)
            for other_id, value in every
            if other_id != image.id and (d := distance(image.phash, value)) <= SIMILAR_DISTANCE
        )[:8]
        exact += [(s.distance, s.image.id) for s in near] == scanned
    benchkit.log(f"{len(chosen)} lookups timed")

    scan_sql = (
        "SELECT id, bit_count((phash # %s)::bit(64)) AS d FROM generations_image "
        "WHERE team_id = %s AND id <> %s AND bit_count((phash # %s)::bit(64)) <= %s ORDER BY d, id LIMIT 8"
    )
    scans: list[float] = []
    with connection.cursor() as cursor:
        for image_id in chosen[: args.scans]:
            phash = images[image_id].phash
            tick = time.perf_counter()
            cursor.execute(scan_sql, [phash, team.id, image_id, phash, SIMILAR_DISTANCE])
            cursor.fetchall()
            scans.append((time.perf_counter() - tick) * 1000)

    sample = images[chosen[0]]
    lookup_qs = (
        band_candidates(in_team, sample.phash).exclude(id=sample.id).order_by().values_list("id", "phash")
    )
    lookup_sql, lookup_params = lookup_qs.query.sql_with_params()
    band_plan = benchkit.explain(lookup_sql, list(lookup_params))
    scan_plan = benchkit.explain(scan_sql, [sample.phash, team.id, sample.id, sample.phash, SIMILAR_DISTANCE])
    # A small table is cheaper to read whole, and the planner does so; at 100,000 it must use the indexes.
    uses_bands = "image_team_band" in band_plan and "Seq Scan" not in band_plan

    p = benchkit.percentile
    environment = benchkit.environment(
        images=f"{count:,} in the measured team, {other_count:,} in another",
        seeding=f"{seeding:.1f} s (bulk_seeding), hashes {hashing:.1f} s",
        load_before=load_before,
    )
    lines = [f"- **{name}:** {value}" for name, value in environment.items()]
    lines += [
        "",
        "| lookup | runs | p50 ms | p95 ms | max ms | candidates read (median / p95 / max) "
        "| found (median / max) | equal to a full scan |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| `similar_images` (band indexes, 2 queries) | {len(timings)} | {p(timings, 0.5):.1f} | "
        f"{p(timings, 0.95):.1f} | {max(timings):.1f} | {p(candidates, 0.5):.0f} / "
        f"{p(candidates, 0.95):.0f} / {max(candidates)} | {p(found, 0.5):.0f} / {max(found)} | "
        f"{exact} of {len(chosen)} |",
        f"| full scan in SQL (`bit_count`, 1 query) | {len(scans)} | {p(scans, 0.5):.1f} | "
        f"{p(scans, 0.95):.1f} | {max(scans):.1f} | {count:,} (every row of the team) | | |",
        "",
        f"Goal p95 ≤ 100 ms: **{'met' if p(timings, 0.95) <= 100 else 'MISSED'}**. Load average after: "
        f"{benchkit.load_average()}.",
        "",
        f"Band lookup (`EXPLAIN (ANALYZE, BUFFERS)`, one image; the band indexes used: "
        f"**{'yes' if uses_bands else 'NO'}**):",
        "",
        "```",
        band_plan,
        "```",
        "",
        "Full scan:",
        "",
        "```",
        scan_plan,
        "```",
    ]
    report = "\n".join(lines)
    print(report)
    if args.markdown:
        args.markdown.write_text(report + "\n")
    return 0 if exact == len(chosen) and (uses_bands or count < 50_000) else 1


if __name__ == "__main__":
    raise SystemExit(main())
