"""Image memory: how much a worker grows while it verifies a downloaded image and makes its thumbnail.

    .venv/bin/python bench/image_memory.py [--runs 3] [--case png-8000-rgba ...]

* Makes each case's image once, in a temporary folder: a 1024² and a 2048² RGB PNG (noise over a gradient,
  like a generated picture), an 8000x8000 flat RGBA PNG (about 250 KB that decodes to 256 MB) and an 8000x8000
  JPEG (a gradient).
* Measures each case ``--runs`` times, each in a fresh Python process that reads the file, then does what
  ``generations.services.persistence.image_persist`` does with downloaded bytes: ``verify_image`` and the
  thumbnail (``VerifiedImage.thumbnail``; code from before the thumbnail was made during verification had a
  separate ``make_thumbnail`` call, which is used when present so the same script measures both).
* Growth is the process's peak resident memory during that work (``VmHWM``, reset just before through
  ``/proc/self/clear_refs`` where Linux allows it) minus its resident memory just before (``VmRSS``).
* Prints a markdown table; exits 1 when a case grew more than ``--limit-mb`` (150 MB by default).

``--measure FILE`` is the child's entry point (prints one JSON line); the tests use it too.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LIMIT_MB = 150.0


# --- The images ----------------------------------------------------------------------------------------


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def flat_png(width: int, height: int, rgba: tuple[int, int, int, int] = (40, 90, 160, 200)) -> bytes:
    """A valid 8-bit RGBA PNG of one colour, compressed row block by row block (never all rows in memory)."""
    row = b"\x00" + bytes(rgba) * width  # filter "none" + pixels
    compressor = zlib.compressobj(9)
    blocks, rest = divmod(height, 64)
    data = b"".join(compressor.compress(row * 64) for _ in range(blocks))
    data += compressor.compress(row * rest) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def _picture_png(side: int) -> bytes:
    from PIL import Image

    gradient = Image.linear_gradient("L").resize((side, side))
    noise = Image.effect_noise((side, side), 48)
    picture = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.ROTATE_90)))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def _gradient_jpeg(side: int) -> bytes:
    from PIL import Image

    gradient = Image.radial_gradient("L").resize((side, side))
    picture = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90), gradient))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=90)
    return out.getvalue()


CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "png-1024": ("1024x1024 RGB PNG", lambda: _picture_png(1024)),
    "png-2048": ("2048x2048 RGB PNG", lambda: _picture_png(2048)),
    "png-8000-rgba": ("8000x8000 flat RGBA PNG", lambda: flat_png(8000, 8000)),
    "jpeg-8000": ("8000x8000 JPEG", lambda: _gradient_jpeg(8000)),
}


# --- One measurement (the child process) ---------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        found = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"/proc/self/status has no {field}")
    return int(found.group(1))


def _reset_peak() -> bool:
    """Make VmHWM start again from the current RSS (Linux ≥ 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def measure(path: Path) -> dict[str, object]:
    """Verify and thumbnail the image in ``path`` as ``image_persist`` does; the growth of this process."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from generations import imaging

    data = path.read_bytes()
    reset = _reset_peak()
    before = _status_kb("VmRSS")
    started = time.perf_counter()
    verified = imaging.verify_image(data)
    thumbnail = getattr(verified, "thumbnail", None)
    if thumbnail is None:  # the code before the thumbnail was made while verifying
        thumbnail = imaging.make_thumbnail(verified.data)
    seconds = time.perf_counter() - started
    peak = _status_kb("VmHWM")
    return {
        "growth_mb": round((peak - before) / 1024, 1),
        "rss_before_mb": round(before / 1024, 1),
        "peak_mb": round(peak / 1024, 1),
        "seconds": round(seconds, 2),
        "peak_reset": reset,
        "size": [verified.width, verified.height],
        "thumbnail_bytes": len(thumbnail),
    }


def measure_in_subprocess(path: Path) -> dict[str, object]:
    """``measure(path)`` in a fresh interpreter, so nothing earlier inflates the peak."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--measure", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measuring {path.name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- The run -------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: all")
    parser.add_argument("--limit-mb", type=float, default=LIMIT_MB)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0

    over = False
    print("| case | file | RSS before (MB) | growth per run (MB) | max growth | time per run (s) |")
    print("| --- | ---: | ---: | --- | ---: | --- |")
    with tempfile.TemporaryDirectory(prefix="image-memory-") as folder:
        for name in args.case or list(CASES):
            label, make = CASES[name]
            path = Path(folder) / name
            path.write_bytes(make())
            runs = [measure_in_subprocess(path) for _ in range(args.runs)]
            growths = [float(run["growth_mb"]) for run in runs]
            over = over or max(growths) > args.limit_mb
            print(
                f"| {label} | {path.stat().st_size / 1024:,.0f} KB "
                f"| {statistics.median(float(run['rss_before_mb']) for run in runs):.0f} "
                f"| {' / '.join(f'{growth:.1f}' for growth in growths)} | {max(growths):.1f} "
                f"| {' / '.join(str(run['seconds']) for run in runs)} |"
            )
            if not all(run["peak_reset"] for run in runs):
                print(f"(VmHWM could not be reset for {name}: growth counts from the process's earlier peak)")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
