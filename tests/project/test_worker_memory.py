"""A worker process does not keep the memory a task freed (pixelgallery/celery.py: release_freed_memory).

Measured in a fresh Python process, as a prefork pool process runs tasks: decoding a 4-MP PNG into its
thumbnail frees ~20 MB that glibc would otherwise keep for the life of the process. The first task's one-time
imports (the perceptual hash's numpy and scipy) are made before measuring.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pixelgallery.celery import MALLOC_TRIM
from sandbox.render import render_png

PROJECT_ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixelgallery.settings")
import django
django.setup()
from celery import signals
from generations.imaging import verify_image
from generations.tasks import persist_image

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

pictures = [open(path, "rb").read() for path in sys.argv[1:]]
meta = {"task_id": "t", "task": persist_image, "args": (1,), "kwargs": {}}
# A first task loads what hashing needs (imagehash, numpy, scipy) once per process: not kept by a task.
verify_image(pictures[0])
signals.task_postrun.send(sender=persist_image, retval=None, state="SUCCESS", **meta)
before = rss_mb()
for data in pictures * 2:  # four "tasks", each ending as Celery ends a task
    verify_image(data)
    signals.task_postrun.send(sender=persist_image, retval=None, state="SUCCESS", **meta)
print(json.dumps({"growth_mb": rss_mb() - before}))
"""


@pytest.mark.skipif(MALLOC_TRIM is None or not Path("/proc/self/status").exists(), reason="glibc and /proc")
def test_a_task_that_decoded_a_4_megapixel_image_leaves_its_process_at_most_8_mb_larger(tmp_path):
    paths = []
    for number in range(2):  # rendered here: the measured process only reads the files
        paths.append(tmp_path / f"{number}.png")
        paths[-1].write_bytes(render_png(f"a fox #{number}", 1, "flux-pro", "1:1", "4", 1))
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, paths)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    growth = json.loads(result.stdout.strip().splitlines()[-1])["growth_mb"]
    assert growth <= 8, f"the process kept {growth:.1f} MB after its tasks"
