"""Ingest rate and memory of one download worker: images stored per second, and RSS growth over many images.

    .venv/bin/python bench/ingest_rate.py [--rate-images 400] [--rss-images 1000] [--concurrency 2]

It builds its own world from real processes (``tools/processes.py``) and tears it down afterwards:

* a fresh PostgreSQL database (``--database``, default ``bench_ingest`` on 127.0.0.1:5432), migrated;
* a Redis database as the broker (``--broker``, default ``redis://127.0.0.1:6379/11``; it must be empty, and
  it is emptied again at the end);
* the PixelDojo sandbox as its own process, without latency, with an image pool
  (``PIXELDOJO_SANDBOX_IMAGE_POOL``: ``--pool`` pictures per shape rendered once, each file made unique by a
  text chunk), so the sandbox spends no CPU rendering while the worker is measured;
* local file storage in a temporary folder (``MEDIA_ROOT``);
* one prefork Celery worker on the ``downloads`` queue (``--concurrency`` processes), started afresh for
  each phase (for the rate, once the phase's work is queued).

Each phase asks the sandbox for generations of 4 square images (``POST /flux``), records them as the app does
after an answer (a generation *saving*, its images *pending*), queues one ``persist_image`` task per image,
starts the worker and waits until no image is pending. Nothing is mocked: each task downloads the PNG over
HTTP with the app's safe fetcher, verifies it, writes the original and the WebP thumbnail to disk, marks the
image stored and settles its generation.

* **rate** (1-megapixel PNGs, 1008x1008): images stored per second, from the images' ``stored_at``: steady
  state (between the 10th and the 90th percentile of the stored times) and wall clock (first to last image).
* **rss** (4-megapixel PNGs, 2000x2000, ``output_megapixels`` 4): the worker's resident memory, summed over
  the main process and its pool processes (``/proc/<pid>/status`` ``VmRSS``; PSS from ``smaps_rollup`` too,
  which counts pages shared after ``fork`` once), sampled every 0.2 s: at ready (the worker is started before
  this phase's tasks are queued), after the first ``--warm`` images, at the end (worker idle) and the peak.

Prints a markdown report (with the date, commit and load average) and exits 1 when the rate is below
``--goal-rate`` (20/s) or the RSS grew by more than ``--goal-rss-mb`` (50 MB) from ready to end.
``--profile N`` instead runs ``image_persist`` on N 1-MP images inside this process under cProfile (with the
same sandbox, database and storage) and prints the costliest functions.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tools.benchkit import commit, load_average, log  # noqa: E402
from tools.processes import (  # noqa: E402 - the project root must be importable first
    ManagedProcess,
    SandboxProcess,
    celery_worker,
    child_env,
    free_port,
    manage,
    postgres_database,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate-images", type=int, default=400, help="1-MP images of the rate phase (400)")
    parser.add_argument("--rss-images", type=int, default=1000, help="4-MP images of the RSS phase (1000)")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork processes of the worker (2)")
    parser.add_argument("--warm", type=int, default=20, help="images before the 'warm' RSS reading (20)")
    parser.add_argument("--pool", type=int, default=16, help="sandbox pictures per shape (16)")
    parser.add_argument("--database", default="bench_ingest", help="PostgreSQL database to create")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/11", help="an empty Redis database")
    parser.add_argument("--goal-rate", type=float, default=20.0, help="images/s the rate must reach (20)")
    parser.add_argument("--goal-rss-mb", type=float, default=50.0, help="allowed RSS growth in MB (50)")
    parser.add_argument(
        "--conn-max-age",
        help="DATABASE_CONN_MAX_AGE of the worker (default: the app's own default)",
    )
    parser.add_argument("--phases", default="rate,rss", help="comma list of phases to run (rate,rss)")
    parser.add_argument("--profile", type=int, default=0, help="profile N images in-process instead")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up a phase after this (900 s)")
    parser.add_argument("--workdir", type=Path, help="logs and media (default: a temp dir, removed)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    return parser.parse_args(argv)


# --- memory of a process group -------------------------------------------------------------------------


def group_pids(pgid: int) -> list[int]:
    """Live processes of the process group ``pgid`` (a prefork worker and its pool processes)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def _kib(path: Path, name: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (those that exited count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def group_memory(pgid: int) -> tuple[float, float, int]:
    """(RSS MB, PSS MB, processes) summed over the group."""
    pids = group_pids(pgid)
    rss = sum(_kib(Path(f"/proc/{pid}/status"), "VmRSS") for pid in pids)
    pss = sum(_kib(Path(f"/proc/{pid}/smaps_rollup"), "Pss") for pid in pids)
    return rss / 1024, pss / 1024, len(pids)


@dataclass
class MemorySampler:
    """Samples a process group's memory every ``interval`` seconds in a thread."""

    pgid: int
    interval: float = 0.2
    samples: list[tuple[float, float, float, int]] = field(default_factory=list)  # (t, rss, pss, n)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), *group_memory(self.pgid)))
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


# --- the run -------------------------------------------------------------------------------------------


class IngestBench:
    """The world of one run (database, broker, sandbox, storage) and its phases."""

    def __init__(self, args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack) -> None:
        self.args, self.workdir, self.stack = args, workdir, stack
        self.results: dict[str, Any] = {}

    def build(self) -> None:
        args, workdir = self.args, self.workdir
        import redis

        self.broker = redis.Redis.from_url(args.broker, socket_timeout=5)
        if self.broker.dbsize():
            raise SystemExit(f"the broker database {args.broker} is not empty; give another with --broker")
        self.stack.callback(self.broker.flushdb)
        database_url = self.stack.enter_context(postgres_database(args.database))
        sandbox_env = child_env(
            {
                "PIXELDOJO_SANDBOX_RPM": "100000",
                "PIXELDOJO_SANDBOX_LATENCY_SECONDS": "0",
                "PIXELDOJO_SANDBOX_IMAGE_POOL": str(args.pool),
            }
        )
        self.sandbox = SandboxProcess(port=free_port(), env=sandbox_env, log_path=workdir / "sandbox.log")
        self.stack.callback(self.sandbox.kill)
        self.sandbox.start()
        self.media_root = workdir / "media"
        self.env = child_env(
            {
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": args.broker,
                "REDIS_URL": None,
                "PIXELDOJO_RATE_LIMIT_REDIS_URL": args.broker,
                "PIXELDOJO_API_KEY": None,
                "PIXELDOJO_BASE_URL": self.sandbox.base_url,
                "MEDIA_ROOT": str(self.media_root),
                "AWS_STORAGE_BUCKET_NAME": None,
                "PIXELGALLERY_VAR_DIR": str(workdir / "var"),
                "LOG_LEVEL": "INFO",
                "WORKER_METRICS_PORT": None,
                "DJANGO_DEBUG": "0",
                "DJANGO_SECURE": "0",
                "DATABASE_CONN_MAX_AGE": args.conn_max_age,
            }
        )
        (workdir / "var").mkdir(parents=True, exist_ok=True)
        manage(["migrate", "--noinput"], env=self.env)
        os.environ.update(self.env)
        for name in ("REDIS_URL", "PIXELDOJO_API_KEY", "AWS_STORAGE_BUCKET_NAME", "WORKER_METRICS_PORT"):
            os.environ.pop(name, None)
        import django

        django.setup()
        from django.contrib.auth import get_user_model

        self.user = get_user_model().objects.create_user(username="ingest")
        log(f"world ready in {workdir}: db {args.database}, broker {args.broker}")

    # work

    def queue_images(self, count: int, megapixels: str, *, enqueue: bool = True) -> list[int]:
        """Ask the sandbox for ``count`` images; record them as answered (pending); queue their downloads."""
        from generations.tasks import persist_image
        from tools.ingesting import answered_images

        answered = answered_images(
            user=self.user,
            base_url=self.sandbox.base_url,
            count=count,
            megapixels=megapixels,
            prompt="ingest",
        )
        self.warm_sandbox(answered.urls)
        if enqueue:
            for image_id in answered.ids:
                persist_image.delay(image_id)
        return answered.ids

    def warm_sandbox(self, urls: list[str]) -> None:
        """Download every image once beforehand, so the sandbox has rendered its whole pool when timed."""
        import requests

        with requests.Session() as session:
            for url in urls:
                session.get(url, timeout=30).raise_for_status()

    def backend_pids(self) -> list[int]:
        """PostgreSQL backends connected to the bench database, apart from this process's own."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return [row[0] for row in cursor.fetchall()]

    def cpu_now(self, worker: ManagedProcess) -> dict[str, float]:
        """CPU seconds so far of the worker's processes, the sandbox and the database's other backends."""
        return {
            "worker": cpu_seconds(group_pids(worker.pid or 0)),
            "sandbox": cpu_seconds([self.sandbox.pid or 0]),
            "database": cpu_seconds(self.backend_pids()),
        }

    def pending(self, ids: list[int]) -> int:
        from generations.models import Image

        return Image.objects.filter(id__in=ids, status=Image.Status.PENDING).count()

    def start_worker(self, name: str) -> ManagedProcess:
        worker = celery_worker(
            name=name,
            env=self.env,
            log_path=self.workdir / f"{name}.log",
            concurrency=self.args.concurrency,
            extra_args=("--without-mingle", "--without-gossip", "--without-heartbeat", "-Q", "downloads"),
        )
        self.stack.callback(worker.kill)
        return worker.start()

    def wait_done(self, ids: list[int], *, on_progress: Any = None) -> None:
        started = time.monotonic()
        last_report = started
        while (left := self.pending(ids)) > 0:
            if time.monotonic() - started > self.args.timeout:
                raise SystemExit(f"{left} images still pending after {self.args.timeout:g} s")
            if on_progress is not None:
                on_progress(len(ids) - left)
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                log(f"  {len(ids) - left}/{len(ids)} stored, load {load_average()}")
            time.sleep(0.2)
        if on_progress is not None:
            on_progress(len(ids))

    def outcome(self, ids: list[int]) -> dict[str, Any]:
        from django.db.models import Count

        from generations.models import Image

        statuses = dict(
            Image.objects.filter(id__in=ids).values_list("status").annotate(n=Count("id")).order_by()
        )
        stored = list(
            Image.objects.filter(id__in=ids, status=Image.Status.STORED)
            .order_by("stored_at")
            .values_list("stored_at", "width", "height", "size_bytes")
        )
        return {"statuses": statuses, "stored": stored}

    def phase_rate(self) -> None:
        args = self.args
        log(f"rate: queueing {args.rate_images} 1-MP images")
        self.sandbox.configure(output_megapixels=None)
        ids = self.queue_images(args.rate_images, "1")
        load_before = load_average()
        worker = self.start_worker("ingest-rate")
        time.sleep(1.0)  # the pool processes are forked by now
        cpu_before = self.cpu_now(worker)
        log(f"rate: worker ready (load {load_before}); downloading")
        self.wait_done(ids)
        load_after = load_average()
        cpu_after = self.cpu_now(worker)
        worker.stop()
        cpu = {name: round((cpu_after[name] - cpu_before[name]) / len(ids) * 1000, 1) for name in cpu_after}
        result = self.outcome(ids)
        times = [row[0].timestamp() for row in result["stored"]]
        n = len(times)
        lo, hi = int(n * 0.1), max(int(n * 0.9) - 1, int(n * 0.1) + 1)
        steady = (hi - lo) / (times[hi] - times[lo]) if n > 2 and times[hi] > times[lo] else 0.0
        wall = (n - 1) / (times[-1] - times[0]) if n > 1 and times[-1] > times[0] else 0.0
        first = result["stored"][0] if result["stored"] else (None, 0, 0, 0)
        sizes = [row[3] for row in result["stored"]]
        self.results["rate"] = {
            "images": len(ids),
            "statuses": result["statuses"],
            "size": f"{first[1]}x{first[2]}",
            "mean_file_kb": round(sum(sizes) / len(sizes) / 1024, 1) if sizes else 0,
            "steady_per_s": round(steady, 2),
            "wall_per_s": round(wall, 2),
            "wall_seconds": round(times[-1] - times[0], 2) if n > 1 else 0,
            "load_before": load_before,
            "load_after": load_after,
            "cpu_ms_per_image": cpu,
            "cpu_bound_per_s": round((os.cpu_count() or 1) * 1000 / sum(cpu.values()), 1)
            if sum(cpu.values())
            else 0,
        }
        log(f"rate: {self.results['rate']}")

    def phase_rss(self) -> None:
        args = self.args
        log(f"rss: queueing {args.rss_images} 4-MP images")
        self.sandbox.configure(output_megapixels=4)
        ids = self.queue_images(args.rss_images, "1", enqueue=False)
        load_before = load_average()
        worker = self.start_worker("ingest-rss")
        time.sleep(2.0)  # the pool processes are forked by now
        ready = group_memory(worker.pid or 0)  # before its first task
        from generations.tasks import persist_image

        for image_id in ids:
            persist_image.delay(image_id)
        marks: dict[str, tuple[float, float, int]] = {"ready": ready}

        def progress(stored: int) -> None:
            if "warm" not in marks and stored >= args.warm:
                marks["warm"] = group_memory(worker.pid or 0)

        log(f"rss: worker ready, RSS {ready[0]:.1f} MB over {ready[2]} processes; downloading")
        with MemorySampler(worker.pid or 0) as sampler:
            self.wait_done(ids, on_progress=progress)
            time.sleep(1.0)  # idle again
        marks["end"] = group_memory(worker.pid or 0)
        load_after = load_average()
        worker.stop()
        result = self.outcome(ids)
        first = result["stored"][0] if result["stored"] else (None, 0, 0, 0)
        sizes = [row[3] for row in result["stored"]]
        peak = max(sampler.samples, key=lambda sample: sample[1]) if sampler.samples else (0, 0, 0, 0)
        times = [row[0].timestamp() for row in result["stored"]]
        self.results["rss"] = {
            "images": len(ids),
            "statuses": result["statuses"],
            "size": f"{first[1]}x{first[2]}",
            "mean_file_kb": round(sum(sizes) / len(sizes) / 1024, 1) if sizes else 0,
            "rss_mb": {name: round(mark[0], 1) for name, mark in marks.items()},
            "pss_mb": {name: round(mark[1], 1) for name, mark in marks.items()},
            "processes": marks["end"][2],
            "peak_rss_mb": round(peak[1], 1),
            "growth_mb": round(marks["end"][0] - marks["ready"][0], 1),
            "growth_after_warm_mb": round(marks["end"][0] - marks.get("warm", ready)[0], 1),
            "per_s": round((len(times) - 1) / (times[-1] - times[0]), 2) if len(times) > 1 else 0,
            "load_before": load_before,
            "load_after": load_after,
        }
        log(f"rss: {self.results['rss']}")

    def profile(self, count: int) -> None:
        from generations.services import image_persist

        self.sandbox.configure(output_megapixels=None)
        ids = self.queue_images(count, "1", enqueue=False)
        image_persist(image_id=ids[0])  # imports, first connection
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for image_id in ids[1:]:
            image_persist(image_id=image_id)
        profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"\n{count - 1} images in {elapsed:.2f} s in one process: {(count - 1) / elapsed:.1f}/s")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def report(args: argparse.Namespace, results: dict[str, Any]) -> tuple[str, bool]:
    lines = [
        f"ingest benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"commit {commit(PROJECT_ROOT)}, "
        f"{os.cpu_count()} CPUs; one worker on `downloads`, prefork concurrency {args.concurrency}",
        "",
        "| measure | result | goal |",
        "| --- | --- | --- |",
    ]
    ok = True
    if "rate" in results:
        rate = results["rate"]
        passed = rate["steady_per_s"] >= args.goal_rate
        ok &= passed
        lines += [
            f"| 1-MP PNGs stored ({rate['size']}, {rate['mean_file_kb']} KB) | {rate['images']}: "
            f"{rate['statuses']} | all stored |",
            f"| rate, steady state (10th to 90th percentile) | **{rate['steady_per_s']} images/s** "
            f"{'✓' if passed else '✗'} | ≥ {args.goal_rate:g}/s |",
            f"| rate, wall clock (first to last) | {rate['wall_per_s']} images/s "
            f"({rate['wall_seconds']} s) | |",
            f"| CPU per image: worker / sandbox / database backends (ms) | "
            f"{' / '.join(str(rate['cpu_ms_per_image'][name]) for name in ('worker', 'sandbox', 'database'))}"
            f" | |",
            f"| rate these CPU costs allow on {os.cpu_count()} idle CPUs "
            f"| {rate['cpu_bound_per_s']} images/s | |",
            f"| load average before / after | {rate['load_before']} / {rate['load_after']} | |",
        ]
    if "rss" in results:
        rss = results["rss"]
        passed = rss["growth_mb"] <= args.goal_rss_mb
        ok &= passed
        marks = " / ".join(
            f"{rss['rss_mb'][name]}" for name in ("ready", "warm", "end") if name in rss["rss_mb"]
        )
        pss = " / ".join(
            f"{rss['pss_mb'][name]}" for name in ("ready", "warm", "end") if name in rss["pss_mb"]
        )
        lines += [
            f"| 4-MP PNGs stored ({rss['size']}, {rss['mean_file_kb']} KB) | {rss['images']}: "
            f"{rss['statuses']} at {rss['per_s']}/s | all stored |",
            f"| worker RSS, {rss['processes']} processes: ready / after {args.warm} / end (MB) | {marks} | |",
            f"| worker PSS: ready / after {args.warm} / end (MB) | {pss} | |",
            f"| RSS growth over {rss['images']} images (end - ready) | **{rss['growth_mb']} MB** "
            f"{'✓' if passed else '✗'} (after warm-up: {rss['growth_after_warm_mb']} MB) "
            f"| ≤ {args.goal_rss_mb:g} MB |",
            f"| peak RSS while working | {rss['peak_rss_mb']} MB | |",
            f"| load average before / after | {rss['load_before']} / {rss['load_after']} | |",
        ]
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        bench = IngestBench(args, workdir, stack)
        bench.build()
        if args.profile:
            bench.profile(args.profile)
            return 0
        phases = [name.strip() for name in args.phases.split(",") if name.strip()]
        for name in phases:
            {"rate": bench.phase_rate, "rss": bench.phase_rss}[name]()
        text, ok = report(args, bench.results)
        print("\n" + text)
        if args.json:
            args.json.write_text(json.dumps(bench.results, indent=2, default=str))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
