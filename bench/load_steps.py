"""Stepped load against gunicorn with Locust (issue 18): requests/s, p50/p95/p99, errors and CPU per step.

    .venv/bin/python bench/load_steps.py [--worker-class sync|gthread] [--steps 5,10,20,40,80]
        [--step-seconds 60] [--images 20000] [--markdown FILE]

It builds its own world and tears it down afterwards:

* a fresh PostgreSQL database (``--database``, default ``bench_load``, on 127.0.0.1:5432 as ``postgres``),
  migrated, with ``--images`` images spread over ``--teams`` teams (``tools/seeding.py``: generations, images,
  ledger, favourites, collections, tags), each with ``--members`` members who share one known password;
* a private ``redis-server`` on a free port for the cache, the rate limiter and the Celery broker, as in
  production (``REDIS_URL``); no worker runs, so submitted generations stay queued (they are counted);
* static files collected (WhiteNoise, manifest), then gunicorn with ``DJANGO_DEBUG=0`` and ``DJANGO_SECURE=0``
  (plain HTTP on loopback): ``--workers`` processes of ``--worker-class`` (``gthread`` with ``--threads``);
* Locust (``bench/locust_library.py``, headless, one process) stepping the number of users: each step holds
  its user count for ``--step-seconds``; its first ``--settle`` seconds (ramp-up), and anything before its new
  users' logins have answered, are not measured.

Prints the date, commit, machine load, the HTML size of a 48-tile library page (bytes and gzip bytes), then
one markdown table row per step: users, requests/s, p50/p95/p99 ms, errors, and the CPU seconds gunicorn
(master and workers), PostgreSQL (the postmaster and every backend, exited ones included through the
postmaster's children's times; other databases' backends too, so other work on the machine shows) and Locust
used in the measured window, plus a per-request-name table. ``--env NAME=VALUE`` passes settings to gunicorn
(e.g. ``--env DATABASE_CONN_MAX_AGE=0`` to measure a change); ``--markdown FILE`` also writes the report.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tools.benchkit import commit, ensure_database, load_average, log, percentile  # noqa: E402 - the project root first
from tools.processes import (  # noqa: E402
    ManagedProcess,
    RedisServer,
    child_env,
    executable,
    free_port,
    manage,
    postgres_database,
)

PASSWORD = "load-bench-password-1"  # noqa: S105 - throw-away users of a throw-away database
TEAM_NAMES = ("Load Alpha", "Load Beta", "Load Gamma", "Load Delta", "Load Epsilon")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", default="5,10,20,40,80", help="user counts, one step each")
    parser.add_argument("--step-seconds", type=float, default=60.0, help="seconds per step (60)")
    parser.add_argument(
        "--settle", type=float, help="seconds at the start of each step not measured (min(10, step/4))"
    )
    parser.add_argument("--spawn-rate", type=float, default=20.0, help="users started per second (20)")
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"), help="(sync)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (4)")
    parser.add_argument("--images", type=int, default=20_000, help="images, over all teams (20000)")
    parser.add_argument("--teams", type=int, default=3, help="teams (3)")
    parser.add_argument("--members", type=int, default=8, help="members per team (8)")
    parser.add_argument("--database", default="bench_load", help="PostgreSQL database to create (bench_load)")
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port (a free one)")
    parser.add_argument(
        "--keep-database", action="store_true", help="keep the database afterwards (for --reuse-database)"
    )
    parser.add_argument(
        "--reuse-database",
        action="store_true",
        help="use the database a --keep-database run left (migrated again, not seeded again)",
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for gunicorn (repeat)"
    )
    parser.add_argument("--workdir", type=Path, help="logs, static files, the request log (default: temp)")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument("--label", default="", help="a line saying what this run measures")
    parser.add_argument(
        "--wait-idle",
        type=float,
        metavar="LOAD",
        help="before Locust starts, wait (at most --wait-max seconds) for a 1-minute load average below LOAD",
    )
    parser.add_argument("--wait-max", type=float, default=600.0, help="--wait-idle at most (600 s)")
    args = parser.parse_args(argv)
    if args.teams > len(TEAM_NAMES):
        parser.error(f"at most {len(TEAM_NAMES)} teams")
    return args


# --- CPU ------------------------------------------------------------------------------------------------


def _stat(pid: int | str) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _processes() -> list[tuple[int, list[str]]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(entry.name)) is not None:
            found.append((int(entry.name), fields))
    return found


def postmaster_pid() -> int | None:
    """The PostgreSQL server's main process (``postgres -D …``), found in /proc."""
    for pid, _fields in _processes():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"/postgres") and b"-D" in argv:
            return pid
    return None


def tree_seconds(root: int | None, *, group: bool = False) -> float:
    """CPU seconds of ``root`` (its own, its reaped children's) plus its live children's (or its group's)."""
    if root is None:
        return 0.0
    total = 0
    for pid, fields in _processes():
        # fields[0] is the state, [1] ppid, [2] pgrp; [11] utime, [12] stime, [13] cutime, [14] cstime
        if pid == root:
            total += sum(int(value) for value in fields[11:15])
        elif (int(fields[2]) == root) if group else (int(fields[1]) == root):
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


@dataclass
class CpuSampler:
    """Samples the CPU seconds of gunicorn, PostgreSQL and Locust once a second, in a thread."""

    gunicorn: int
    postgres: int | None
    locust: int
    samples: list[tuple[float, float, float, float]] = field(default_factory=list)
    loads: list[tuple[float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        self.samples.append(
            (
                time.time(),
                tree_seconds(self.gunicorn, group=True),
                tree_seconds(self.postgres),
                tree_seconds(self.locust, group=True),
            )
        )

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.loads.append((time.time(), load_average().split()[0]))
            self.stop.wait(1.0)

    def between(self, start: float, end: float) -> tuple[float, float, float]:
        """CPU seconds (gunicorn, PostgreSQL, Locust) between the samples nearest ``start`` and ``end``."""

        def nearest(moment: float) -> tuple[float, float, float, float]:
            return min(self.samples, key=lambda sample: abs(sample[0] - moment))

        first, last = nearest(start), nearest(end)
        return last[1] - first[1], last[2] - first[2], last[3] - first[3]

    def load_at(self, moment: float) -> str:
        """The 1-minute load average sampled nearest ``moment``."""
        return min(self.loads, key=lambda item: abs(item[0] - moment))[1] if self.loads else ""

    def seconds(self, start: float, end: float) -> float:
        first = min(self.samples, key=lambda sample: abs(sample[0] - start))
        last = min(self.samples, key=lambda sample: abs(sample[0] - end))
        return last[0] - first[0]


# --- the world ------------------------------------------------------------------------------------------


def build(
    args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack
) -> tuple[dict[str, str], list]:
    """Database, Redis, seeded teams and members, static files; returns gunicorn's environment and members."""
    if args.reuse_database:
        database_url = ensure_database(
            host="127.0.0.1", port=5432, user="postgres", database=args.database, reseed=False
        )
    else:
        database_url = stack.enter_context(postgres_database(args.database, keep=args.keep_database))
    redis = RedisServer(port=free_port(), data_dir=workdir / "redis", log_path=workdir / "redis.log")
    stack.enter_context(redis)
    env = child_env(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url(0),
            "CELERY_BROKER_URL": None,
            "CACHE_URL": None,
            "PIXELDOJO_RATE_LIMIT_REDIS_URL": None,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE": "0",
            "DJANGO_STATIC_ROOT": str(workdir / "static"),
            "MEDIA_ROOT": str(workdir / "media"),
            "PIXELGALLERY_VAR_DIR": str(workdir / "var"),
            "PIXELDOJO_API_KEY": None,
            "AWS_STORAGE_BUCKET_NAME": None,
            "WORKER_METRICS_PORT": None,
            "LOG_LEVEL": "WARNING",
        }
    )
    (workdir / "var").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    manage(["migrate", "--noinput"], env=env)
    if not (args.reuse_database and (workdir / "static" / "staticfiles.json").exists()):
        manage(["collectstatic", "--noinput"], env=env)  # ~1 min here: every file compressed twice
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    from teams.models import Team
    from tools.seeding import member_usernames, seed_library

    members = []
    if args.reuse_database and Team.objects.filter(name=TEAM_NAMES[0]).exists():
        members = [name for team in TEAM_NAMES[: args.teams] for name in member_usernames(team, args.members)]
        log(f"reusing {args.database}: {len(members)} members")
        connections_close()
        return env, members
    per_team = args.images // args.teams
    for number, name in enumerate(TEAM_NAMES[: args.teams]):
        images = per_team if number < args.teams - 1 else args.images - per_team * (args.teams - 1)
        report = seed_library(
            team_name=name, images=images, members=args.members, seed=number + 1, password=PASSWORD
        )
        members.extend(user.username for user in report.members)
    log(
        f"world built in {time.perf_counter() - started:.0f} s: "
        f"{args.images:,} images, {len(members)} members"
    )
    connections_close()
    return env, members


def connections_close() -> None:
    from django.db import connections

    connections.close_all()


def gunicorn(args: argparse.Namespace, env: dict[str, str], workdir: Path, port: int) -> ManagedProcess:
    extra = dict(item.split("=", 1) for item in args.env)
    argv = [
        executable("gunicorn"),
        "pixelgallery.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={args.workers}",
        f"--worker-class={args.worker_class}",
        "--worker-tmp-dir=/dev/shm",
    ]
    if args.worker_class == "gthread":
        argv.append(f"--threads={args.threads}")
    return ManagedProcess(
        "gunicorn",
        argv,
        env={**env, "WEB_CONCURRENCY": str(args.workers), **extra},
        log_path=workdir / "gunicorn.log",
        ready_port=port,
        ready_timeout=60.0,
    )


def page_sizes(base: str, username: str) -> dict[str, tuple[int, int, int]]:
    """(bytes, gzip bytes, tiles) of the library pages, logged in as ``username`` (a fresh session)."""
    import requests

    session = requests.Session()
    login = session.get(f"{base}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    session.post(
        f"{base}/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD},
        timeout=30,
    )
    home = session.get(f"{base}/", timeout=30)
    team = re.search(r'<option value="([0-9a-f-]{36})"', home.text)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home.text).group(1)
    session.post(
        f"{base}/teams/switch/", data={"csrfmiddlewaretoken": token, "team": team.group(1)}, timeout=30
    )
    sizes = {}
    for path in ("/library/", "/library/team/"):
        body = session.get(f"{base}{path}", timeout=30, headers={"Accept-Encoding": "identity"}).content
        sizes[path] = (len(body), len(gzip.compress(body, 6)), body.count(b'data-testid="tile"'))
    return sizes


# --- Locust and the figures -----------------------------------------------------------------------------


@dataclass
class Step:
    users: int
    start: float
    end: float
    requests: list[tuple[float, str, float, bool]] = field(default_factory=list)


def read_log(path: Path) -> tuple[list[Step], list[tuple[float, str, float, bool]]]:
    steps, requests = [], []
    for line in path.read_text().splitlines():
        parts = line.split(",")
        if parts[0] == "step":
            steps.append(Step(users=int(parts[1]), start=float(parts[2]), end=float(parts[3])))
        elif len(parts) == 4:
            requests.append((float(parts[0]), parts[1], float(parts[2]), parts[3] == "1"))
    return steps, requests


def run_locust(
    args: argparse.Namespace, *, base: str, members: list[str], workdir: Path, gunicorn_pid: int
) -> tuple[list[Step], list, CpuSampler]:
    steps = [int(users) for users in args.steps.split(",")]
    request_log = workdir / "requests.csv"
    request_log.unlink(missing_ok=True)
    env = child_env(
        {
            "LOAD_STEPS": ",".join(f"{users}:{args.step_seconds:g}" for users in steps),
            "LOAD_SPAWN_RATE": f"{args.spawn_rate:g}",
            "LOAD_LOG": str(request_log),
            "LOAD_MEMBERS": ",".join(members),
            "LOAD_PASSWORD": PASSWORD,
        }
    )
    argv = [
        executable("locust"),
        "-f",
        str(PROJECT_ROOT / "bench" / "locust_library.py"),
        "--headless",
        f"--host={base}",
        "--only-summary",
        "--loglevel=WARNING",
    ]
    with open(workdir / "locust.log", "wb") as output:
        process = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    sampler = CpuSampler(gunicorn=gunicorn_pid, postgres=postmaster_pid(), locust=process.pid)
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    try:
        process.wait(timeout=len(steps) * args.step_seconds + 180)
    finally:
        if process.poll() is None:
            process.kill()
        sampler.stop.set()
        thread.join()
    step_list, requests = read_log(request_log)
    return step_list, requests, sampler


def report_rows(args, steps: list[Step], requests, sampler: CpuSampler) -> list[str]:
    rows = [
        "| users | requests/s | p50 ms | p95 ms | p99 ms | errors / requests | gunicorn CPU s (cores) "
        "| PostgreSQL CPU s (cores) | Locust CPU s (cores) | CPU ms per request: gunicorn + PostgreSQL "
        "| requests/s that CPU allows on 2 idle cores | measured s | load average |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for step in steps:
        settle = args.settle if args.settle is not None else min(10.0, (step.end - step.start) / 4)
        # Not before the step's last login has answered (+1 s): hashing a password costs ~0.3 s of CPU, and
        # logins are no part of the browsing mix (each simulated member logs in once, when it starts).
        logins = [item[0] for item in requests if step.start <= item[0] < step.end and "login" in item[1]]
        start = max(step.start + settle, max(logins, default=0.0) + 1.0)
        window = [
            item for item in requests if start <= item[0] < step.end and "/accounts/login/" not in item[1]
        ]
        times = [item[2] for item in window]
        errors = sum(1 for item in window if not item[3])
        seconds = step.end - start
        gunicorn_cpu, postgres_cpu, locust_cpu = sampler.between(start, step.end)
        cpu_seconds = sampler.seconds(start, step.end) or seconds
        load = sampler.load_at(step.end)
        if not times:
            rows.append(f"| {step.users} | 0 | | | | 0 / 0 | | | | | | {seconds:.0f} | {load} |")
            continue
        # What the machine would serve if gunicorn, PostgreSQL and Locust had both cores to themselves: a
        # figure other people's work on the machine changes far less than requests/s or latency.
        server_ms = (gunicorn_cpu + postgres_cpu) / len(times) * 1000
        all_ms = server_ms + locust_cpu / len(times) * 1000
        rows.append(
            f"| {step.users} | {len(times) / seconds:.1f} | {percentile(times, 0.5):.0f} "
            f"| {percentile(times, 0.95):.0f} | {percentile(times, 0.99):.0f} | {errors} / {len(times)} "
            f"| {gunicorn_cpu:.1f} ({gunicorn_cpu / cpu_seconds:.2f}) "
            f"| {postgres_cpu:.1f} ({postgres_cpu / cpu_seconds:.2f}) "
            f"| {locust_cpu:.1f} ({locust_cpu / cpu_seconds:.2f}) "
            f"| {gunicorn_cpu / len(times) * 1000:.1f} + {postgres_cpu / len(times) * 1000:.1f} "
            f"| {2000 / all_ms:.0f} | {seconds:.0f} | {load} |"
        )
    return rows


def per_name_rows(requests) -> list[str]:
    names: dict[str, list[tuple[float, bool]]] = {}
    for _, name, milliseconds, ok in requests:
        names.setdefault(name, []).append((milliseconds, ok))
    rows = [
        "| request (all steps) | count | p50 ms | p95 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, values in sorted(names.items(), key=lambda item: -len(item[1])):
        times = [value[0] for value in values]
        errors = sum(1 for value in values if not value[1])
        rows.append(
            f"| `{name}` | {len(times)} | {percentile(times, 0.5):.0f} | {percentile(times, 0.95):.0f} "
            f"| {errors} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="load-steps-"))
    workdir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    with contextlib.ExitStack() as stack:
        env, members = build(args, workdir, stack)
        port = args.port or free_port()
        base = f"http://127.0.0.1:{port}"
        server = stack.enter_context(gunicorn(args, env, workdir, port))
        sizes = page_sizes(base, members[0])
        if args.wait_idle is not None:
            deadline = time.monotonic() + args.wait_max
            while float(load_average().split()[0]) >= args.wait_idle and time.monotonic() < deadline:
                time.sleep(5)
            log(f"load average {load_average()} (waited for < {args.wait_idle:g})")
        load_before = load_average()
        locust_started = time.time()
        log(f"locust: steps {args.steps} x {args.step_seconds:g} s against {base}")
        steps, requests, sampler = run_locust(
            args, base=base, members=members, workdir=workdir, gunicorn_pid=server.pid
        )
        load_after = load_average()
        from datetime import UTC, datetime

        from django.db import connection

        from generations.models import Generation

        stored = Generation.objects.filter(
            status=Generation.Status.QUEUED, created_at__gte=datetime.fromtimestamp(locust_started, UTC)
        ).count()
        submitted_ok = sum(1 for item in requests if item[1].endswith("[submit generation]") and item[3])
        backends = connection.cursor()
        backends.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        open_backends = backends.fetchone()[0]
        connection.close()
        worker = args.worker_class + (f" x {args.threads} threads" if args.worker_class == "gthread" else "")
        settings = ", ".join(args.env) or "defaults"
        lines += [
            f"load steps, {time.strftime('%Y-%m-%d %H:%M %Z')}, commit {commit(PROJECT_ROOT)}, "
            f"{os.cpu_count()} CPUs; gunicorn {args.workers} {worker} workers, DEBUG off, "
            f"PostgreSQL `{args.database}`, private Redis; "
            f"settings: {settings}; {args.images:,} images in {args.teams} teams, {len(members)} members",
        ]
        if args.label:
            lines += ["", args.label]
        lines += [
            "",
            "| page (48 tiles) | HTML bytes | gzip bytes | tiles |",
            "| --- | ---: | ---: | ---: |",
            *(
                f"| `{path}` | {raw:,} | {packed:,} | {tiles} |"
                for path, (raw, packed, tiles) in sizes.items()
            ),
            "",
            *report_rows(args, steps, requests, sampler),
            "",
            f"Submissions accepted: {submitted_ok}; generations stored by them: {stored} "
            "(queued: no worker runs). "
            f"PostgreSQL connections to `{args.database}` open at the end: {open_backends}. "
            f"Load average before / after: {load_before} / {load_after}.",
            "",
            *per_name_rows(requests),
        ]
        server.stop()
    report = "\n".join(lines)
    print(report)
    if args.markdown:
        args.markdown.write_text(report + "\n")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
