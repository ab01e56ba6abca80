"""How much of PixelDojo's per-minute allowance the shared rate limiter uses, and that it never exceeds it.

    .venv/bin/python bench/limiter_utilisation.py --rpm 10 --minutes 3.25

It builds its own world (a fresh PostgreSQL database ``pixelgallery_limiter``, a private redis-server for
broker + limiter, a fault-free sandbox whose key allows exactly ``--rpm`` requests per sliding 60 s, so any
overshoot would be answered 429) and runs ``--workers`` prefork worker processes against a backlog of
generations larger than the period can serve. From the sandbox's ``request_times`` it reports:

* the steady-state rate: requests per minute between the first request and the request ``k * rpm`` later
  (whole limiter windows, so the burst edges of a sliding window do not distort it), against ``--rpm``;
* the largest number of requests in any sliding 60 s window (must be <= rpm) and the 429 answers (must be 0);
* the shortest and mean time between request ``i`` and request ``i + rpm`` (>= 60 s means never over).

The limiter's window is 60 s + PIXELDOJO_RATE_LIMIT_MARGIN_SECONDS (1 s), so the ceiling is 60/61 = 98.4 %.
Exit status 1 when the limit was exceeded, a 429 was seen, or utilisation is below 95 %.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
import tempfile
import time
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

TARGET = 0.95


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rpm", type=int, default=10, help="requests per minute allowed (default 10)")
    parser.add_argument("--minutes", type=float, default=3.25, help="measured period (default 3.25)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork processes per worker (default 2)")
    parser.add_argument("--database", default="pixelgallery_limiter", help="PostgreSQL database to create")
    parser.add_argument("--workdir", type=Path, help="logs and result.json (default: a temp dir)")
    return parser.parse_args(argv)


def log(start: float, message: str) -> None:
    print(f"[{time.monotonic() - start:6.1f}s] {message}", flush=True)


def analyse(times: list[float], rpm: int) -> dict[str, Any]:
    """Steady-state rate over whole windows, max in any 60 s window, gaps between i and i + rpm."""
    times = sorted(times)
    result: dict[str, Any] = {"requests": len(times), "max_in_any_60s": max_in_window(times, 60.0)}
    if len(times) > rpm:
        windows = (len(times) - 1) // rpm
        counted = windows * rpm
        span = times[counted] - times[0]
        gaps = [times[i + rpm] - times[i] for i in range(len(times) - rpm)]
        result.update(
            {
                "whole_windows": windows,
                "steady_requests": counted,
                "steady_seconds": round(span, 2),
                "achieved_rpm": round(counted / span * 60, 3),
                "utilisation": round(counted / span * 60 / rpm, 4),
                "min_gap_i_to_i_plus_rpm": round(min(gaps), 3),
                "mean_gap_i_to_i_plus_rpm": round(statistics.fmean(gaps), 3),
            }
        )
    first, last = (times[0], times[-1]) if times else (0.0, 0.0)
    naive = (len(times) - 1) / (last - first) * 60 if last > first else None
    result["naive_rpm_first_to_last"] = round(naive, 3) if naive is not None else None
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pixelgallery-limiter-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    period = args.minutes * 60
    backlog = math.ceil(args.rpm * (args.minutes + 1)) + 2 * args.workers * args.concurrency
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
                "PIXELDOJO_RATE_LIMIT_NAME": "limiter-bench",
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

        import os

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
        from generations.services import generation_submit

        limiter_from_settings().reset()  # start with an empty window
        for number in range(1, args.workers + 1):
            worker = celery_worker(
                name=f"limiter{number}",
                env=env,
                log_path=workdir / f"worker{number}.log",
                concurrency=args.concurrency,
            )
            stack.callback(worker.kill)
            worker.start()
        log(t0, f"world ready in {workdir}; {args.workers} workers x {args.concurrency} processes")

        user = get_user_model().objects.create_user(username="limiter")
        for number in range(backlog):
            params = GenerationRequest(
                prompt=f"limiter #{number}", model="flux-pro", num_outputs=1, megapixels="0.25"
            )
            generation_submit(user=user, params=params)
        log(t0, f"submitted a backlog of {backlog} generations; measuring {args.minutes:g} min")

        first = wait_first_request(sandbox)
        end = first + period
        while time.time() < end:
            stats = sandbox.stats()
            log(t0, f"/flux requests {stats['flux_requests']} {stats['flux_by_status']}")
            time.sleep(min(15.0, max(0.0, end - time.time())))
        stats = sandbox.stats()
        unanswered = Generation.objects.filter(provider_id="").count()
        log(t0, f"measurement over; {unanswered} generations still waiting for PixelDojo (the backlog)")
        from django.db import connections

        connections.close_all()

    times = [t for t in stats["request_times"] if first <= t <= end]
    result = {
        "rpm_allowed": args.rpm,
        "minutes": args.minutes,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "backlog_submitted": backlog,
        "backlog_left": unanswered,
        "flux_by_status": stats["flux_by_status"],
        "status_429": stats["flux_by_status"].get("429", 0),
        **analyse(times, args.rpm),
        "request_offsets": [round(t - first, 3) for t in times],
    }
    (workdir / "result.json").write_text(json.dumps(result, indent=2))
    print_result(result)
    print(f"logs and result.json in {workdir}")
    problems = []
    if result["max_in_any_60s"] > args.rpm:
        problems.append(f"{result['max_in_any_60s']} requests in 60 s > {args.rpm}")
    if result["status_429"]:
        problems.append(f"{result['status_429']} answers 429")
    if result.get("utilisation", 0) < TARGET:
        problems.append(f"utilisation {result.get('utilisation', 0):.1%} < {TARGET:.0%}")
    if not unanswered:
        problems.append("the backlog ran out during the measurement: submit more or measure less")
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print(f"OK: utilisation >= {TARGET:.0%} and never above {args.rpm} requests in any 60 s")
    return 0


def wait_first_request(sandbox: SandboxProcess, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        times = sandbox.stats()["request_times"]
        if times:
            return min(times)
        time.sleep(0.2)
    raise SystemExit("no request reached the sandbox within 60 s")


def print_result(result: dict[str, Any]) -> None:
    rpm = result["rpm_allowed"]
    lines = [
        "",
        "==== limiter utilisation ====",
        f"allowed                    {rpm} requests / 60 s (limiter window 61 s: ceiling 98.4 %)",
        f"workers                    {result['workers']} x {result['concurrency']} prefork processes, "
        f"backlog {result['backlog_submitted']} generations ({result['backlog_left']} left at the end)",
        f"requests in the period     {result['requests']} over {result['minutes']:g} min",
        f"steady state               {result.get('steady_requests')} requests in "
        f"{result.get('steady_seconds')} s ({result.get('whole_windows')} whole windows) = "
        f"{result.get('achieved_rpm')} rpm",
        f"utilisation                {result.get('utilisation', 0):.1%} of {rpm} rpm (target >= 95 %)",
        f"max in any sliding 60 s    {result['max_in_any_60s']} (allowed {rpm})",
        f"gap request i -> i+{rpm:<6} min {result.get('min_gap_i_to_i_plus_rpm')} s, "
        f"mean {result.get('mean_gap_i_to_i_plus_rpm')} s (>= 60 s never exceeds)",
        f"429 answers                {result['status_429']}   (/flux by status {result['flux_by_status']})",
        f"naive first->last rate     {result['naive_rpm_first_to_last']} rpm (includes the burst edge)",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
