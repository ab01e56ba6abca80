"""The fair queue with real processes: one member's big batch does not hold another member's single image.

    .venv/bin/python bench/fair_queue.py --rpm 20 --batch 40 --rounds 3

It builds its own world like ``limiter_utilisation.py`` (a fresh PostgreSQL database ``pixelgallery_fairq``,
a private redis-server for broker + limiter, a fault-free sandbox whose key allows ``--rpm`` requests per
sliding 60 s, ``--workers`` prefork worker processes). Member A submits ``--batch`` generations; once A's
batch holds the limiter (the window's ``--rpm`` slots are used and A's backlog waits), member B submits one
generation, waits until it is called, and does so again ``--rounds`` times. From ``Generation.called_at`` it
reports, for each of B's generations, how many limiter slots (calls) went to others between B submitting it
and B's call starting, and how long B waited, against where plain first-come-first-served would have put it
(behind all of A's work still waiting).

Exit status 1 when any of B's generations waited more than ``--max-slots`` (2) slots, a generation was called
more than once or not at all, the limit was exceeded or a 429 was seen.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tools.processes import (  # noqa: E402 - the project root must be importable first
    RedisServer,
    SandboxProcess,
    celery_worker,
    child_env,
    free_port,
    manage,
    max_in_window,
    postgres_database,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rpm", type=int, default=20, help="requests per minute allowed (default 20)")
    parser.add_argument("--batch", type=int, default=40, help="member A's generations (default 40)")
    parser.add_argument("--rounds", type=int, default=3, help="B's single generations, one after another")
    parser.add_argument("--max-slots", type=int, default=2, help="slots B may wait at most (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork processes per worker (default 2)")
    parser.add_argument("--database", default="pixelgallery_fairq", help="PostgreSQL database to create")
    parser.add_argument("--workdir", type=Path, help="logs and result.json (default: a temp dir)")
    return parser.parse_args(argv)


def log(start: float, message: str) -> None:
    print(f"[{time.monotonic() - start:6.1f}s] {message}", flush=True)


def wait(predicate, *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g} s waiting for: {what}")
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pixelgallery-fairq-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    started_at = datetime.now(UTC)
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(postgres_database(args.database))
        redis = RedisServer(port=free_port(), data_dir=workdir / "redis", log_path=workdir / "redis.log")
        stack.callback(redis.kill)
        redis.start()
        sandbox_env = child_env({"PIXELDOJO_SANDBOX_RPM": str(args.rpm), "PIXELDOJO_SANDBOX_FAULTS": None})
        sandbox = SandboxProcess(port=free_port(), env=sandbox_env, log_path=workdir / "sandbox.log")
        stack.callback(sandbox.kill)
        sandbox.start()
        env = child_env(
            {
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": redis.url(0),
                "REDIS_URL": None,
                "PIXELDOJO_RATE_LIMIT_REDIS_URL": redis.url(0),
                "PIXELDOJO_RATE_LIMIT_NAME": "fairq-bench",
                "PIXELDOJO_RATE_LIMIT_RPM": str(args.rpm),
                "PIXELDOJO_API_KEY": None,
                "PIXELDOJO_BASE_URL": sandbox.base_url,
                "MEDIA_ROOT": str(workdir / "media"),
                "AWS_STORAGE_BUCKET_NAME": None,
                "PIXELGALLERY_VAR_DIR": str(workdir / "var"),
                "LOG_LEVEL": "INFO",
                "WORKER_METRICS_PORT": None,  # no metrics port per worker
            }
        )
        (workdir / "var").mkdir(parents=True, exist_ok=True)
        manage(["migrate", "--noinput"], env=env)

        os.environ.update(env)
        for name in ("REDIS_URL", "PIXELDOJO_API_KEY", "AWS_STORAGE_BUCKET_NAME"):
            os.environ.pop(name, None)
        import logging

        import django

        django.setup()
        logging.getLogger("generations").setLevel(logging.WARNING)
        from django.contrib.auth import get_user_model

        from generations.models import Generation
        from generations.pixeldojo import GenerationRequest
        from generations.ratelimit import limiter_from_settings
        from generations.selectors_queue import queue_place
        from generations.services import generation_submit

        limiter_from_settings().reset()  # start with an empty window
        for number in range(1, args.workers + 1):
            worker = celery_worker(
                name=f"fairq{number}",
                env=env,
                log_path=workdir / f"worker{number}.log",
                concurrency=args.concurrency,
            )
            stack.callback(worker.kill)
            worker.start()
        log(t0, f"world ready in {workdir}; {args.workers} workers x {args.concurrency} processes")

        users = get_user_model().objects
        member_a, member_b = users.create_user(username="member-a"), users.create_user(username="member-b")

        def submit(user, prompt: str) -> Generation:
            params = GenerationRequest(prompt=prompt, model="flux-pro", num_outputs=1, megapixels="0.25")
            return generation_submit(user=user, params=params)

        for number in range(args.batch):
            submit(member_a, f"A's batch #{number + 1}")
        log(t0, f"A submitted {args.batch} generations")

        def a_called() -> int:
            return Generation.objects.filter(user=member_a, called_at__isnull=False).count()

        # A's batch holds the limiter: the window's slots are used and the rest of the batch waits for more.
        wait(lambda: a_called() >= args.rpm + 1, timeout=180, what=f"{args.rpm + 1} of A's calls")
        rounds = []
        for number in range(args.rounds):
            a_waiting = args.batch - a_called()
            single = submit(member_b, f"B's single image #{number + 1}")
            place = queue_place(generation=single)
            card = place.text if place else ""
            log(t0, f"B submitted #{number + 1} with {a_waiting} of A's waiting; card: {card}")
            called = Generation.objects.filter(id=single.id, called_at__isnull=False)
            wait(called.exists, timeout=120, what="B's call")
            single.refresh_from_db()
            slots_before = Generation.objects.filter(
                called_at__gt=single.created_at, called_at__lt=single.called_at
            ).count()
            waited = (single.called_at - single.created_at).total_seconds()
            rounds.append(
                {
                    "round": number + 1,
                    "a_waiting_when_submitted": a_waiting,
                    "slots_before_b": slots_before,
                    "b_started_in_slot": slots_before + 1,
                    "b_waited_seconds": round(waited, 2),
                    "card_when_submitted": card,
                    "fifo_slots_before_b": a_waiting,
                }
            )
            log(t0, f"B #{number + 1} called after {slots_before} other slots, {waited:.1f} s")
            if a_called() >= args.batch:
                log(t0, "A's batch ran out: no more rounds")
                break
        wait(
            lambda: Generation.objects.filter(called_at__isnull=False).count() == args.batch + len(rounds),
            timeout=args.batch / args.rpm * 60 + 120,
            what="every generation called",
        )
        wait(
            lambda: not Generation.objects.filter(status__in=Generation.ACTIVE_STATUSES).exists(),
            timeout=120,
            what="every generation done",
        )
        stats = sandbox.stats()
        generations = list(Generation.objects.values_list("attempts", "status"))
        from django.db import connections

        connections.close_all()

    load_after = os.getloadavg()
    result: dict[str, Any] = {
        "date": started_at.isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": f"{platform.node()} ({os.cpu_count()} cores)",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "rpm_allowed": args.rpm,
        "batch": args.batch,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "rounds": rounds,
        "max_slots_before_b": max(r["slots_before_b"] for r in rounds),
        "generations": len(generations),
        "called_more_than_once": sum(1 for attempts, _ in generations if attempts > 1),
        "not_done": sum(1 for _, status in generations if status != "done"),
        "flux_by_status": stats["flux_by_status"],
        "max_in_any_60s": max_in_window(stats["request_times"], 60.0),
    }
    (workdir / "result.json").write_text(json.dumps(result, indent=2))
    print_result(result)
    print(f"logs and result.json in {workdir}")
    problems = []
    if result["max_slots_before_b"] > args.max_slots:
        problems.append(f"B waited {result['max_slots_before_b']} slots > {args.max_slots}")
    if result["called_more_than_once"] or result["not_done"]:
        problems.append(f"{result['called_more_than_once']} called twice, {result['not_done']} not done")
    if result["flux_by_status"] != {"200": result["generations"]}:
        problems.append(f"PixelDojo answers {result['flux_by_status']}")
    if result["max_in_any_60s"] > args.rpm:
        problems.append(f"{result['max_in_any_60s']} requests in 60 s > {args.rpm}")
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print(f"OK: B's generation started within {args.max_slots} slots every time")
    return 0


def _commit() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.check_output(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            text=True,
        ).strip()
    return "?"


def print_result(result: dict[str, Any]) -> None:
    lines = [
        "",
        "==== fair queue ====",
        f"date / commit              {result['date']} / {result['commit']}",
        f"machine / load             {result['machine']}, "
        f"load {result['load_before']} -> {result['load_after']}",
        f"allowed                    {result['rpm_allowed']} requests / 60 s; A's batch {result['batch']}; "
        f"{result['workers']} x {result['concurrency']} prefork processes",
        "round  A waiting  slots before B  B started in slot  B waited  first-come-first-served would be",
    ]
    for r in result["rounds"]:
        lines.append(
            f"{r['round']:>5}  {r['a_waiting_when_submitted']:>9}  {r['slots_before_b']:>14}  "
            f"{r['b_started_in_slot']:>17}  {r['b_waited_seconds']:>6} s  "
            f"{r['fifo_slots_before_b']} slots before B"
        )
    lines += [
        f"max slots before B         {result['max_slots_before_b']}",
        f"generations                {result['generations']} "
        f"({result['called_more_than_once']} called twice, {result['not_done']} not done)",
        f"PixelDojo answers          {result['flux_by_status']}; max in any 60 s {result['max_in_any_60s']}",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
