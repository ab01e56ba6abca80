"""Seed a team library with many realistic images, fast and without calling PixelDojo (``tools/seeding.py``).

    .venv/bin/python bench/seed_library.py --images 100000 --team "Bench Studio" [--members 8] [--batch 5000]
        [--seed 1] [--days 365] [--password PW] [--reset] [--no-analyze] [--quiet]

    # PostgreSQL only: teams of 10k, 100k and 1M images side by side plus 20k personal images, with
    # INSERT … SELECT generate_series (tools/bulk_seeding.py); tops up what is missing unless --reset
    .venv/bin/python bench/seed_library.py --scale [--sizes 10000,100000,1000000] [--personal 20000]

Writes to the database the settings name, as ``manage.py`` would (``DATABASE_URL``; SQLite in ``var/`` when
unset). See ``tools/seeding.py`` for what it writes; ``bench/library_speed.py`` runs it to seed its library.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, help="How many images to add (required without --scale).")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="Seed teams 'Scale 10k', 'Scale 100k', 'Scale 1M' (see --sizes) and personal images in SQL.",
    )
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="--scale: images per team, comma-separated."
    )
    parser.add_argument("--personal", type=int, default=20_000, help="--scale: the shared member's own.")
    parser.add_argument("--team", default="Bench Studio", help="Team name (reused when it exists).")
    parser.add_argument("--members", type=int, default=8, help="Member users; the first owns the team.")
    parser.add_argument("--batch", type=int, default=5000, help="Images per batch and transaction.")
    parser.add_argument("--seed", type=int, default=1, help="Random seed: same seed, same library.")
    parser.add_argument("--days", type=int, default=365, help="Spread created_at over this many days.")
    parser.add_argument("--password", default=None, help="Password for the members (default: none).")
    parser.add_argument(
        "--reset",
        action="store_true",
        help="Delete the team's images, generations, ledger rows and curation first (seeded teams only).",
    )
    parser.add_argument("--no-analyze", action="store_true", help="Skip ANALYZE at the end.")
    parser.add_argument("--quiet", action="store_true", help="Print nothing.")
    args = parser.parse_args(argv)
    if args.images is None and not args.scale:
        parser.error("--images is required (or --scale)")
    return args


def main(argv: list[str] | None = None, *, out: TextIO | None = None) -> int:
    args = parse_args(argv)
    out = out or sys.stdout
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixelgallery.settings")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from django.db import connection

    from tools.seeding import seed_library

    def say(message: str) -> None:
        if not args.quiet:
            print(message, file=out, flush=True)

    if args.scale:
        return seed_scale_command(args, say)
    try:
        report = seed_library(
            team_name=args.team,
            images=args.images,
            members=args.members,
            batch=args.batch,
            seed=args.seed,
            days=args.days,
            reset=args.reset,
            password=args.password,
            run_analyze=not args.no_analyze,
            progress=say,
        )
    except ValueError as exc:
        print(f"seed_library: {exc}", file=sys.stderr)
        return 2
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.phases.items())
    say(
        f"members: {', '.join(user.username for user in report.members)} (owner {report.members[0].username})"
    )
    say(
        f"seeded team {report.team.name!r} (id {report.team.id}): {report.images:,} images, "
        f"{report.generations:,} generations, {report.ledger_entries:,} ledger charges, "
        f"{report.favourites:,} favourites, {report.collection_items:,} collection items, "
        f"{report.image_tags:,} image tags, {report.rollup_rows:,} daily spend roll-up rows"
    )
    say(f"total time {report.seconds:.1f} s ({phases}) on {connection.vendor}")
    return 0


def seed_scale_command(args: argparse.Namespace, say) -> int:
    """``--scale``: the per-team-size benchmark's library (``tools/bulk_seeding.py``)."""
    from django.db import connection

    from tools.bulk_seeding import scale_team_name, seed_scale

    sizes = {scale_team_name(int(size)): int(size) for size in args.sizes.split(",") if size.strip()}
    try:
        report = seed_scale(
            sizes=sizes,
            personal=args.personal,
            members=args.members,
            days=args.days,
            seed=args.seed,
            password=args.password,
            reset=args.reset,
            progress=say,
        )
    except ValueError as exc:
        print(f"seed_library: {exc}", file=sys.stderr)
        return 2
    teams = ", ".join(f"{name!r} {count:,}" for name, count in report.teams.items())
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.phases.items())
    say(f"seeded teams {teams}; {report.personal:,} personal images of scale-member")
    say(f"total time {report.seconds:.1f} s ({phases}) on {connection.vendor}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
