"""Largest Contentful Paint of a cold library page of 48 tiles, in Chromium, against gunicorn.

    .venv/bin/python bench/library_lcp.py [--runs 20] [--images 60] [--workers 2]

It builds its own world and tears it down afterwards:

* a fresh PostgreSQL database (``--database``, default ``bench_ingest``), migrated, with one user;
* ``--images`` images stored by the app's own ingest code (``image_persist``, in this process) from a
  PixelDojo sandbox running in a thread: 1-MP PNGs of mixed aspect ratios, each with its original and its
  thumbnail as real files in a temporary ``MEDIA_ROOT`` (whatever thumbnails and storage keys the checkout's
  code makes);
* static files collected with ``manage.py collectstatic`` (served by WhiteNoise, as in production);
* gunicorn on ``--port`` with ``DJANGO_DEBUG=0`` and ``DJANGO_SECURE=0`` (plain HTTP on loopback):
  ``--workers`` processes of ``--worker-class`` gthread with ``--threads`` 4 by default. The Dockerfile's sync
  workers expect the TLS proxy the README puts in front, which buffers requests: facing Chromium directly, a
  sync worker is held by each connection Chromium opens ahead of need, and a page waited 30 s behind them.

Each run opens a new browser context (Debian's Chromium through Playwright, ``tests/browser.py``'s arguments),
logs in through the login form, clears the browser's cache (DevTools ``Network.clearBrowserCache``) and loads
``/library/``; once the tile images in the viewport have loaded it reads the ``largest-contentful-paint``
entries (``PerformanceObserver``, ``buffered``) and the resource timings of the tile images. The tile
images are found as ``[data-testid=tile] img`` (their ``currentSrc``): ``src`` or ``srcset``, lazy or not,
signed or not.

Reports p50 / p95 / max of: LCP, what the LCP element was, the first tile image's response end, the HTML's
response start (server time), DOMContentLoaded and load; exits 1 when the LCP's p95 is above ``--goal-ms``
(1000 ms) or the page did not show ``--tiles`` (48) tiles.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tools.benchkit import commit, load_average, log, percentile  # noqa: E402 - the project root must be importable first
from tools.processes import (  # noqa: E402
    ManagedProcess,
    child_env,
    executable,
    manage,
    postgres_database,
)

PASSWORD = "lcp-bench-password-1"  # noqa: S105 - a throw-away user of a throw-away database
ASPECT_RATIOS = ("1:1", "16:9", "3:2", "4:5", "9:16", "4:3")

VISIBLE_TILES_LOADED = """
() => [...document.querySelectorAll("[data-testid=tile] img")]
  .filter((img) => img.getBoundingClientRect().top < window.innerHeight)
  .every((img) => img.complete)
"""
LCP_SCRIPT = """
() => new Promise((resolve) => {
  const entries = [];
  new PerformanceObserver((list) => entries.push(...list.getEntries()))
    .observe({ type: "largest-contentful-paint", buffered: true });
  setTimeout(() => {
    const tiles = [...document.querySelectorAll("[data-testid=tile] img")];
    const sources = new Set(tiles.map((img) => img.currentSrc).filter(Boolean));
    const resources = performance.getEntriesByType("resource").filter((r) => sources.has(r.name));
    const nav = performance.getEntriesByType("navigation")[0];
    const last = entries[entries.length - 1];
    const firstImage = entries.find((e) => e.element && e.element.tagName === "IMG");
    resolve({
      tiles: document.querySelectorAll("[data-testid=tile]").length,
      tile_images: tiles.length,
      images_loaded: tiles.filter((img) => img.complete && img.naturalWidth > 0).length,
      image_requests: resources.length,
      lcp: last ? last.startTime : null,
      lcp_element: last && last.element ? last.element.tagName : (last ? "(removed)" : null),
      lcp_size: last ? last.size : null,
      lcp_first_image: firstImage ? firstImage.startTime : null,
      first_image_response_end: resources.length ? Math.min(...resources.map((r) => r.responseEnd)) : null,
      response_start: nav.responseStart,
      dom_content_loaded: nav.domContentLoadedEventEnd,
      load: nav.loadEventEnd,
      html_bytes: nav.transferSize,
    });
  }, 300);
})
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="cold page loads (20)")
    parser.add_argument("--images", type=int, default=60, help="stored images to seed (60)")
    parser.add_argument("--tiles", type=int, default=48, help="tiles the page must show (48)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class (gthread)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (4)")
    parser.add_argument("--port", type=int, default=18300, help="gunicorn's port (18300)")
    parser.add_argument("--width", type=int, default=1280, help="viewport width (1280)")
    parser.add_argument("--height", type=int, default=900, help="viewport height (900)")
    parser.add_argument("--goal-ms", type=float, default=1000.0, help="LCP p95 goal (1000 ms)")
    parser.add_argument("--database", default="bench_ingest", help="PostgreSQL database to create")
    parser.add_argument("--workdir", type=Path, help="logs, media, static files (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write every run's figures to this file")
    return parser.parse_args(argv)


def build(args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    """Database, stored images with their files, static files; returns gunicorn's environment."""
    database_url = stack.enter_context(postgres_database(args.database))
    from sandbox.server import SandboxServer

    sandbox = SandboxServer(port=0).start()
    stack.callback(sandbox.stop)
    env = child_env(
        {
            "DATABASE_URL": database_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE": "0",
            "DJANGO_STATIC_ROOT": str(workdir / "static"),
            "MEDIA_ROOT": str(workdir / "media"),
            "PIXELGALLERY_VAR_DIR": str(workdir / "var"),
            "PIXELDOJO_BASE_URL": sandbox.base_url,
            "PIXELDOJO_API_KEY": None,
            "AWS_STORAGE_BUCKET_NAME": None,
            "REDIS_URL": None,
            "CELERY_BROKER_URL": None,
            "WORKER_METRICS_PORT": None,
            "LOG_LEVEL": "WARNING",
        }
    )
    (workdir / "var").mkdir(parents=True, exist_ok=True)
    manage(["migrate", "--noinput"], env=env)
    manage(["collectstatic", "--noinput"], env=env)
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from generations.models import Image
    from generations.services import image_persist
    from tools.ingesting import answered_images

    user = get_user_model().objects.create_user(username="lcp", password=PASSWORD)
    answered = answered_images(
        user=user,
        base_url=sandbox.base_url,
        count=args.images,
        megapixels="1",
        aspect_ratios=ASPECT_RATIOS,
        prompt="a lighthouse on a cliff at dusk, oil painting, for the LCP benchmark",
    )
    for image_id in answered.ids:
        image_persist(image_id=image_id)
    stored = Image.objects.filter(status=Image.Status.STORED).count()
    if stored != args.images:
        raise SystemExit(f"only {stored} of {args.images} images were stored")
    log(f"{stored} images stored with their files in {workdir / 'media'}")
    return env


def gunicorn(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> ManagedProcess:
    argv = [
        executable("gunicorn"),
        "pixelgallery.wsgi:application",
        f"--bind=127.0.0.1:{args.port}",
        f"--workers={args.workers}",
        f"--worker-class={args.worker_class}",
        f"--threads={args.threads}",
        "--worker-tmp-dir=/dev/shm",
        "--access-logfile=-",
    ]
    return ManagedProcess(
        "gunicorn",
        argv,
        env={**env, "WEB_CONCURRENCY": str(args.workers)},
        log_path=workdir / "gunicorn.log",
        ready_port=args.port,
        ready_timeout=60.0,
    )


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if path is None:
        raise SystemExit("Chromium is not installed (apt package chromium)")
    base = f"http://127.0.0.1:{args.port}"
    runs: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            for number in range(args.runs + 1):  # run 0 warms gunicorn's workers; it is not counted
                context = browser.new_context(viewport={"width": args.width, "height": args.height})
                try:
                    page = context.new_page()
                    page.set_default_timeout(30_000)
                    page.goto(f"{base}/accounts/login/")
                    page.fill("#id_username", "lcp")
                    page.fill("#id_password", PASSWORD)
                    with page.expect_navigation():
                        page.click("button[type=submit]")
                    page.context.new_cdp_session(page).send("Network.clearBrowserCache")
                    page.goto("about:blank")
                    page.goto(f"{base}/library/", wait_until="load")
                    page.wait_for_function(VISIBLE_TILES_LOADED, timeout=30_000)
                    figures = page.evaluate(LCP_SCRIPT)
                finally:
                    context.close()
                figures["load_average"] = load_average()
                if number:
                    runs.append(figures)
                    log(
                        f"run {number}: LCP {figures['lcp']:.0f} ms ({figures['lcp_element']}), "
                        f"{figures['tiles']} tiles, {figures['images_loaded']} images loaded"
                    )
        finally:
            browser.close()
    return runs


def summary(args: argparse.Namespace, runs: list[dict[str, Any]]) -> tuple[str, bool]:
    def row(label: str, key: str) -> str:
        values = [run[key] for run in runs if run[key] is not None]
        if not values:
            return f"| {label} | n/a | n/a | n/a |"
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        return f"| {label} | {p50:.0f} | {p95:.0f} | {max(values):.0f} |"

    def spread(key: str) -> str:
        values = [run[key] for run in runs]
        return f"{min(values)} to {max(values)}"

    lcps = [run["lcp"] for run in runs if run["lcp"] is not None]
    p95 = percentile(lcps, 0.95) if lcps else float("inf")
    tiles = min(run["tiles"] for run in runs)
    ok = len(lcps) == len(runs) and p95 <= args.goal_ms and tiles >= args.tiles
    elements: dict[str, int] = {}
    for run in runs:
        elements[str(run["lcp_element"])] = elements.get(str(run["lcp_element"]), 0) + 1
    loads = sorted({run["load_average"].split()[0] for run in runs})
    lines = [
        f"library LCP benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"commit {commit(PROJECT_ROOT)}, "
        f"{os.cpu_count()} CPUs; gunicorn {args.workers} {args.worker_class} workers x {args.threads} threads"
        f", "
        f"PostgreSQL, {args.images} stored images; "
        f"Chromium {args.width}x{args.height}, {len(runs)} cold loads (new context, cache cleared)",
        "",
        f"Tiles on the page: {tiles} (goal {args.tiles}); tile images loaded per run: "
        f"{spread('images_loaded')} (requests {spread('image_requests')}); "
        f"LCP element: {', '.join(f'{name} x {count}' for name, count in sorted(elements.items()))}; "
        f"1-minute load average during the runs: {loads[0]} to {loads[-1]}",
        "",
        "| ms after navigation start | p50 | p95 | max |",
        "| --- | ---: | ---: | ---: |",
        row("HTML response start (server time)", "response_start"),
        row("DOMContentLoaded", "dom_content_loaded"),
        row("first tile image received", "first_image_response_end"),
        row("first image painted as LCP candidate", "lcp_first_image"),
        row(f"**Largest Contentful Paint** (goal p95 ≤ {args.goal_ms:g})", "lcp"),
        row("load event", "load"),
        "",
        f"Result: LCP p95 {p95:.0f} ms — {'OK' if ok else 'ABOVE GOAL or missing tiles'}",
    ]
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lcp-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    saved_environ = dict(os.environ)
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        stack.callback(lambda: (os.environ.clear(), os.environ.update(saved_environ)))
        env = build(args, workdir, stack)
        server = gunicorn(args, env, workdir)
        stack.callback(server.stop)
        server.start()
        log(f"gunicorn ready on port {args.port}; load {load_average()}")
        runs = measure(args)
        text, ok = summary(args, runs)
        print("\n" + text)
        if args.json:
            args.json.write_text(json.dumps(runs, indent=2))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
