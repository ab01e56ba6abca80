"""Chaos check: many generations through real workers while workers die, Redis restarts, PixelDojo errs.

    .venv/bin/python bench/chaos.py --generations 60 --workers 2 --fault-rate 0.3 [--rpm 20]

(about 4.5 minutes on 2 cores; at --rpm 60 the 60 generations are all answered within the first minute,
so the kill and the Redis restart would come after the API work.)

It builds its own world and tears it down afterwards:

* a fresh PostgreSQL database (``pixelgallery_chaos`` on 127.0.0.1:5432, migrated with ``manage.py migrate``);
* its own redis-server on a spare port (broker + rate limiter), without persistence;
* a sandbox process whose key allows ``--rpm`` requests per minute, with faults at ``--fault-rate`` split
  evenly over server_error, rate_limit, truncate, corrupt and slow;
* ``--workers`` prefork worker processes and a beat process (the sweeper re-queues work untouched for
  ``SWEEP_STALE_SECONDS``, 20 s here).

It submits the generations through ``generation_submit`` (num_outputs 1-4), SIGKILLs one worker's whole
process group mid-run (``--kill-after``) and restarts it, restarts Redis once (``--redis-after``; every queued
and unacknowledged message is lost),
waits until nothing is queued/generating/saving/pending, stops the workers and prints a summary. Exit status
1 when an image is duplicated, double-charged or lost, or PixelDojo's per-minute limit was exceeded.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tools.processes import (  # noqa: E402 - the project root must be importable first
    ManagedProcess,
    RedisServer,
    SandboxProcess,
    celery_beat,
    celery_worker,
    child_env,
    free_port,
    manage,
    max_in_window,
    postgres_database,
)

FAULTS = ("server_error", "rate_limit", "truncate", "corrupt", "slow")
SLOW_SECONDS = 3.0
SWEEP_STALE_SECONDS = 20
VISIBILITY_TIMEOUT = 30
MODELS = ("flux-pro", "flux-1.1-pro", "flux-1.1-pro-ultra")
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:2")
SWEEP_LINE = re.compile(r"sweep: (\{[^{}]*\})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generations", type=int, default=60, help="generations to submit (default 60)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork processes per worker (default 2)")
    parser.add_argument("--fault-rate", type=float, default=0.3, help="total injected fault rate (0.3)")
    parser.add_argument("--rpm", type=int, default=20, help="PixelDojo requests per minute (default 20)")
    parser.add_argument("--seed", type=int, default=20260101, help="seed of the mix and of the faults")
    parser.add_argument(
        "--kill-after", type=float, default=62.0, help="SIGKILL worker 1 this many s after submitting (62)"
    )
    parser.add_argument("--restart-after", type=float, default=5.0, help="restart it this much later (5 s)")
    parser.add_argument(
        "--redis-after", type=float, default=150.0, help="restart Redis this many s after submitting (150)"
    )
    parser.add_argument("--redis-down", type=float, default=3.0, help="seconds Redis stays down (3)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting after this (900 s)")
    parser.add_argument("--database", default="pixelgallery_chaos", help="PostgreSQL database to create")
    parser.add_argument("--workdir", type=Path, help="logs, media and summary.json (default: a temp dir)")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args(argv)
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate must be between 0 and 1")
    return args


def log(start: float, message: str) -> None:
    print(f"[{time.monotonic() - start:6.1f}s] {message}", flush=True)


class Chaos:
    """The world of one chaos run and the run itself."""

    def __init__(self, args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack) -> None:
        self.args = args
        self.workdir = workdir
        self.stack = stack
        self.media_root = workdir / "media"
        self.t0 = time.monotonic()
        self.events: dict[str, Any] = {}
        self.workers: list[ManagedProcess] = []

    # --- world ---

    def build(self) -> None:
        args, workdir = self.args, self.workdir
        database_url = self.stack.enter_context(postgres_database(args.database, keep=args.keep_database))
        self.redis = RedisServer(port=free_port(), data_dir=workdir / "redis", log_path=workdir / "redis.log")
        self.stack.callback(self.redis.kill)
        self.redis.start()

        share = round(args.fault_rate / len(FAULTS), 4)
        faults = ",".join(f"{name}={share}" for name in FAULTS) + f",slow_seconds={SLOW_SECONDS:g}"
        sandbox_env = child_env(
            {
                "PIXELDOJO_SANDBOX_RPM": str(args.rpm),
                "PIXELDOJO_SANDBOX_FAULTS": faults,
                "PIXELDOJO_SANDBOX_FAULT_SEED": str(args.seed),
            }
        )
        self.sandbox = SandboxProcess(port=free_port(), env=sandbox_env, log_path=workdir / "sandbox.log")
        self.stack.callback(self.sandbox.kill)
        self.sandbox.start()

        self.env = child_env(
            {
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": self.redis.url(0),
                "REDIS_URL": None,
                "PIXELDOJO_RATE_LIMIT_REDIS_URL": self.redis.url(0),
                "PIXELDOJO_RATE_LIMIT_NAME": "chaos",
                "PIXELDOJO_RATE_LIMIT_RPM": str(args.rpm),
                "PIXELDOJO_API_KEY": None,
                "PIXELDOJO_BASE_URL": self.sandbox.base_url,
                "PIXELDOJO_CONNECT_TIMEOUT": "2",
                "PIXELDOJO_READ_TIMEOUT": "10",
                "PIXELDOJO_CALL_DEADLINE_SECONDS": "12",  # + margin: a dead worker's lease ends in 14 s
                "PIXELDOJO_LEASE_MARGIN_SECONDS": "2",
                "SWEEP_STALE_SECONDS": str(SWEEP_STALE_SECONDS),
                "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
                "MEDIA_ROOT": str(self.media_root),
                "AWS_STORAGE_BUCKET_NAME": None,
                "PIXELGALLERY_VAR_DIR": str(workdir / "var"),
                "LOG_LEVEL": "INFO",
                "WORKER_METRICS_PORT": None,  # no metrics port per worker
            }
        )
        (workdir / "var").mkdir(parents=True, exist_ok=True)
        manage(["migrate", "--noinput"], env=self.env)
        self._setup_django()
        from generations.ratelimit import limiter_from_settings

        limiter_from_settings().reset()  # a fresh world starts with an empty window (not "after a restart")
        log(self.t0, f"world ready in {self.workdir}: db {args.database}, redis :{self.redis.port}, "
                     f"sandbox {self.sandbox.base_url} (faults {faults})")  # fmt: skip

        for number in range(1, args.workers + 1):
            worker = celery_worker(
                name=f"chaos{number}",
                env=self.env,
                log_path=workdir / f"worker{number}.log",
                concurrency=args.concurrency,
            )
            self.stack.callback(worker.kill)
            self.workers.append(worker.start())
        self.beat = celery_beat(env=self.env, log_path=workdir / "beat.log", schedule_path=workdir / "beat")
        self.stack.callback(self.beat.kill)
        self.beat.start()
        log(self.t0, f"{args.workers} workers x {args.concurrency} processes and beat started")

    def _setup_django(self) -> None:
        import os

        os.environ.update(self.env)
        for name in ("REDIS_URL", "PIXELDOJO_API_KEY", "AWS_STORAGE_BUCKET_NAME"):
            os.environ.pop(name, None)
        import logging

        import django

        django.setup()
        logging.getLogger("generations").setLevel(logging.WARNING)  # no line per submitted generation

    # --- run ---

    def submit(self) -> None:
        from django.contrib.auth import get_user_model

        from generations.pixeldojo import GenerationRequest
        from generations.services import generation_submit

        user = get_user_model().objects.create_user(username="chaos")
        rng = random.Random(self.args.seed)
        for number in range(self.args.generations):
            params = GenerationRequest(
                prompt=f"chaos #{number}: a lighthouse in a storm, {rng.random():.6f}",
                model=rng.choice(MODELS),
                aspect_ratio=rng.choice(ASPECT_RATIOS),
                num_outputs=rng.randint(1, 4),
                megapixels=rng.choice(("1", "0.25")),
            )
            generation_submit(user=user, params=params)
        log(self.t0, f"submitted {self.args.generations} generations")

    def progress(self) -> dict[str, int]:
        from django.db.models import Q

        from generations.models import Generation, Image

        generations = Counter(Generation.objects.values_list("status", flat=True))
        images = Counter(Image.objects.values_list("status", flat=True))
        answered = Generation.objects.filter(~Q(provider_id="") | Q(status=Generation.Status.FAILED)).count()
        return {
            "answered": answered,
            **{f"g_{status}": generations.get(status, 0) for status in Generation.Status.values},
            **{f"i_{status}": images.get(status, 0) for status in Image.Status.values},
        }

    def run(self) -> bool:
        """Drive the run (kill, restart, Redis restart) until nothing is active; False on timeout."""
        self.submit()
        args = self.args
        submitted = time.monotonic()
        next_report = 0.0
        deadline = submitted + args.timeout
        while time.monotonic() < deadline:
            state = self.progress()
            now = time.monotonic()
            if now >= next_report:
                next_report = now + 10
                self.report(state)
            active = state["g_queued"] + state["g_generating"] + state["g_saving"] + state["i_pending"]
            elapsed = now - submitted
            if "worker_killed" not in self.events and elapsed >= args.kill_after:
                self.kill_worker(state, active)
            if "worker_restarted" not in self.events and elapsed >= args.kill_after + args.restart_after:
                self.workers[0].start()
                self.events["worker_restarted"] = round(time.monotonic() - self.t0, 1)
                log(self.t0, f"restarted {self.workers[0].name}")
            if "redis_restarted" not in self.events and elapsed >= args.redis_after:
                self.restart_redis(state, active)
            for worker in self.crashed_workers():
                # As compose's `restart: unless-stopped` would: start it again, and count it in the summary.
                code = worker.popen.returncode
                exits = self.events.setdefault("unexpected_worker_exits", [])
                exits.append({"worker": worker.name, "exit_code": code, "at": round(now - self.t0, 1)})
                log(self.t0, f"{worker.name} exited by itself (code {code}); restarting it")
                worker.start()
            if dead := self.died_unexpectedly():
                log(self.t0, f"ABORT: {', '.join(dead)} exited without being killed by this script")
                self.events["died_unexpectedly"] = dead
                return False
            if not active and {"worker_restarted", "redis_restarted"} <= set(self.events):
                log(self.t0, "nothing queued, generating, saving or pending any more")
                return True
            time.sleep(1.0)
        log(self.t0, f"TIMEOUT after {args.timeout:g} s")
        return False

    def crashed_workers(self) -> list[Any]:
        """Workers that should run but exited by themselves (not the one this script killed, while down)."""
        expected = list(self.workers[1:])
        if "worker_killed" not in self.events or "worker_restarted" in self.events:
            expected.append(self.workers[0])
        return [worker for worker in expected if not worker.alive()]

    def died_unexpectedly(self) -> list[str]:
        """Services of this world that should run but do not (workers are restarted instead)."""
        expected = [self.beat, self.sandbox, self.redis]
        return [
            f"{process.name} (exit code {process.popen.returncode})"
            for process in expected
            if not process.alive()
        ]

    def report(self, state: dict[str, int]) -> None:
        flux = self.sandbox.stats()
        log(
            self.t0,
            "answered {answered} | queued {g_queued} generating {g_generating} saving {g_saving} "
            "done {g_done} failed {g_failed} | images pending {i_pending} stored {i_stored} "
            "expired {i_expired} failed {i_failed}".format(**state)
            + f" | /flux {flux['flux_requests']} {flux['flux_by_status']}",
        )

    def kill_worker(self, state: dict[str, int], active: int) -> None:
        from django.utils import timezone

        from generations.models import Generation, Image

        victim = self.workers[0]
        calls = Generation.objects.filter(lease_until__gt=timezone.now()).count()
        downloads = Image.objects.filter(status=Image.Status.PENDING, attempts__gte=1).count()
        victim.kill()
        self.events["worker_killed"] = round(time.monotonic() - self.t0, 1)
        self.events["worker_killed_state"] = {**state, "calls_under_lease": calls}
        log(
            self.t0,
            f"SIGKILLed {victim.name} (process group {victim.pid}) with {active} items active, "
            f"{calls} PixelDojo calls under lease, {downloads} pending images already tried",
        )

    def restart_redis(self, state: dict[str, int], active: int) -> None:
        import redis

        client = redis.Redis.from_url(self.redis.url(0), socket_timeout=5)
        queues = [key for key in client.scan_iter(count=1000) if client.type(key) == b"list"]
        queued = sum(client.llen(key) for key in queues)  # every queue (celery, pixeldojo, downloads...)
        unacked = client.hlen("unacked")
        client.close()
        self.redis.stop()
        time.sleep(self.args.redis_down)
        self.redis.start()
        self.events["redis_restarted"] = round(time.monotonic() - self.t0, 1)
        self.events["messages_lost_in_restart"] = {"queued": queued, "unacked": unacked}
        self.events["redis_restart_state"] = state
        log(
            self.t0,
            f"restarted Redis ({self.args.redis_down:g} s down) with {active} items active: lost {queued} "
            f"queued and {unacked} unacknowledged messages, and the rate-limit window",
        )

    def shutdown_workers(self) -> None:
        """Stop beat and workers so nothing writes while the summary is taken."""
        self.beat.stop()
        for worker in self.workers:
            worker.stop()

    # --- summary ---

    def summary(self, finished: bool) -> dict[str, Any]:
        from django.db.models import Count

        from credits.models import LedgerEntry
        from generations.models import Generation, Image

        generations = Counter(Generation.objects.values_list("status", flat=True))
        images = Counter(Image.objects.values_list("status", flat=True))
        stored_rows = Image.objects.filter(status=Image.Status.STORED)
        stored = list(stored_rows.values_list("file", "thumbnail", "thumbnail_small", "sha256"))

        same_index = (
            Image.objects.values("generation_id", "index").annotate(n=Count("id")).filter(n__gt=1).count()
        )
        expected_files = {name for *files, _ in stored for name in files if name}
        on_disk = [p for p in self.media_root.rglob("*") if p.is_file()] if self.media_root.exists() else []
        names_on_disk = {p.relative_to(self.media_root).as_posix() for p in on_disk}
        extra_files = len(names_on_disk - expected_files)
        missing_files = len(expected_files - names_on_disk)
        sha_rows = Counter(row[-1] for row in stored)
        sha_twice = sum(n - 1 for n in sha_rows.values() if n > 1)
        original_hashes = Counter(
            hashlib.sha256(p.read_bytes()).hexdigest()
            for p in on_disk
            if p.relative_to(self.media_root).parts[0] == "originals"
        )
        same_bytes_twice = sum(n - 1 for n in original_hashes.values() if n > 1)
        duplicated = same_index + extra_files + sha_twice + same_bytes_twice

        charges = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE)
        per_image = Counter(charges.values_list("image_id", flat=True))
        double_charged = sum(n - 1 for image_id, n in per_image.items() if image_id is not None and n > 1)
        uncharged = Image.objects.filter(ledger_entries__isnull=True).count()

        pending = images.get(Image.Status.PENDING, 0)
        unfinished = sum(generations.get(status, 0) for status in Generation.ACTIVE_STATUSES)
        lost = pending + missing_files + unfinished

        stats = self.sandbox.stats()
        window_max = max_in_window(stats["request_times"], 60.0)
        sweeps = self._sweep_counts()
        return {
            "finished": finished,
            "elapsed_seconds": round(time.monotonic() - self.t0, 1),
            "generations": {
                "submitted": self.args.generations,
                **{status: generations.get(status, 0) for status in Generation.Status.values},
            },
            "images": {
                "accepted": sum(images.values()),
                **{status: images.get(status, 0) for status in Image.Status.values},
                "files_on_disk": len(names_on_disk),
            },
            "checks": {
                "duplicated": duplicated,
                "duplicated_detail": {
                    "rows_sharing_generation_index": same_index,
                    "files_beyond_original_and_thumbnail": extra_files,
                    "sha256_stored_twice": sha_twice,
                    "identical_original_files": same_bytes_twice,
                },
                "double_charged": double_charged,
                "charges": charges.count(),
                "images_without_charge": uncharged,
                "lost": lost,
                "lost_detail": {
                    "images_pending": pending,
                    "stored_images_missing_files": missing_files,
                    "generations_unfinished": unfinished,
                },
            },
            "pixeldojo": {
                "flux_requests": stats["flux_requests"],
                "flux_by_status": stats["flux_by_status"],
                "images_generated": stats["images_generated"],
                "image_requests": stats["image_requests"],
                "max_requests_in_60s": window_max,
                "rpm_allowed": self.args.rpm,
            },
            "attempts": {
                "api_calls_recorded": sum(Generation.objects.values_list("attempts", flat=True)),
                "downloads_recorded": sum(Image.objects.values_list("attempts", flat=True)),
            },
            "sweeps": sweeps,
            "events": self.events,
        }

    def _sweep_counts(self) -> dict[str, int]:
        """Totals of the sweeper's ``sweep: {...}`` log lines (plain or JSON logs) in the worker logs."""
        totals: Counter[str] = Counter({"sweeps_that_found_work": 0})
        for worker in self.workers:
            for match in SWEEP_LINE.finditer(worker.log_text()):
                with contextlib.suppress(ValueError, SyntaxError):
                    totals.update(ast.literal_eval(match.group(1)))
                    totals["sweeps_that_found_work"] += 1
        return dict(totals)


def print_summary(result: dict[str, Any]) -> None:
    g, i, c, p = result["generations"], result["images"], result["checks"], result["pixeldojo"]
    lines = [
        "",
        "==== chaos summary ====",
        f"finished                 {'yes' if result['finished'] else 'NO (timeout)'} "
        f"in {result['elapsed_seconds']:g} s",
        f"generations submitted    {g['submitted']}  done {g['done']}  failed {g['failed']}  "
        f"still queued/generating/saving {g['queued']}/{g['generating']}/{g['saving']}",
        f"images accepted          {i['accepted']}  (returned by PixelDojo and recorded)",
        f"images stored            {i['stored']}  expired {i['expired']}  failed {i['failed']}  "
        f"pending {i['pending']}  files on disk {i['files_on_disk']}",
        f"duplicated               {c['duplicated']}  {c['duplicated_detail']}",
        f"double-charged           {c['double_charged']}  (charges {c['charges']}, "
        f"images without a charge {c['images_without_charge']})",
        f"lost                     {c['lost']}  {c['lost_detail']}",
        f"PixelDojo /flux requests {p['flux_requests']}  by status {p['flux_by_status']}  "
        f"images generated {p['images_generated']}  image requests {p['image_requests']}",
        f"max requests in any 60 s {p['max_requests_in_60s']}  (allowed {p['rpm_allowed']})",
        f"attempts recorded        api calls {result['attempts']['api_calls_recorded']}  "
        f"downloads {result['attempts']['downloads_recorded']}",
        f"sweeper                  {result['sweeps']}",
        f"events                   {json.dumps(result['events'])}",
    ]
    print("\n".join(lines), flush=True)


def failures(result: dict[str, Any]) -> list[str]:
    c, p = result["checks"], result["pixeldojo"]
    problems = [f"{name} = {c[name]}" for name in ("duplicated", "double_charged", "lost") if c[name]]
    if p["max_requests_in_60s"] > p["rpm_allowed"]:
        problems.append(f"{p['max_requests_in_60s']} requests in 60 s > {p['rpm_allowed']} allowed")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pixelgallery-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        chaos = Chaos(args, workdir, stack)
        chaos.build()
        finished = chaos.run()
        chaos.shutdown_workers()
        result = chaos.summary(finished)
        from django.db import connections

        connections.close_all()
    (workdir / "summary.json").write_text(json.dumps(result, indent=2))
    print_summary(result)
    problems = failures(result)
    print(f"logs and summary.json in {workdir}")
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print("OK: nothing duplicated, double-charged or lost; the rate limit held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
