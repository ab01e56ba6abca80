"""Deterministic placeholder "generations" rendered with Pillow.

The same (prompt, seed, model, aspect_ratio, megapixels, index) always gives byte-identical PNG bytes. The
palette comes from a hash of the prompt alone, so different prompts look visibly different; the layout of
shapes also depends on the seed, model and output index. A 1 MP image renders in a few tens of ms: shapes
are drawn at half resolution and upscaled, and the PNG is written with compress_level=1.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import random
import struct
import zlib
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1, 1),
    "16:9": (16, 9),
    "9:16": (9, 16),
    "4:3": (4, 3),
    "3:4": (3, 4),
    "3:2": (3, 2),
    "2:3": (2, 3),
    "21:9": (21, 9),
    "9:21": (9, 21),
    "4:5": (4, 5),
    "5:4": (5, 4),
}
MEGAPIXELS: dict[str, float] = {"1": 1.0, "0.25": 0.25}
_SCALE = 2  # shapes are drawn at 1/_SCALE resolution, then upscaled
NEAR_DUPLICATE_NUDGE = 0.015  # a near-duplicate's shapes move by up to this share of the short side
Color = tuple[int, int, int]


def image_size(aspect_ratio: str, megapixels: str) -> tuple[int, int]:
    """Width and height (multiples of 16) with width*height close to megapixels * 1e6.

    ``megapixels`` is a number written as a string: one of the API's (``MEGAPIXELS``), or the size a
    sandbox configured with ``output_megapixels`` serves (e.g. "4").
    """
    ratio_w, ratio_h = ASPECT_RATIOS[aspect_ratio]
    area = float(megapixels) * 1_000_000
    width = math.sqrt(area * ratio_w / ratio_h)
    height = area / width
    return _multiple_of_16(width), _multiple_of_16(height)


def _multiple_of_16(value: float) -> int:
    return max(16, int(value / 16 + 0.5) * 16)


def _palette(prompt: str) -> list[Color]:
    """Five harmonious colours derived from the prompt hash."""
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    base_hue = digest[0] / 255
    spread = 0.08 + digest[1] / 255 * 0.35
    colors = []
    for i in range(5):
        hue = (base_hue + spread * i * (1 if digest[2] % 2 else -1)) % 1.0
        saturation = 0.45 + digest[3 + i] / 255 * 0.5
        value = 0.35 + digest[8 + i] / 255 * 0.6
        r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
        colors.append((round(r * 255), round(g * 255), round(b * 255)))
    return colors


def _layout_rng(
    prompt: str, seed: int, model: str, aspect_ratio: str, megapixels: str, index: int
) -> random.Random:
    key = "\x00".join((prompt, str(seed), model, aspect_ratio, megapixels, str(index)))
    return random.Random(hashlib.sha256(key.encode("utf-8")).digest())


def _background(size: tuple[int, int], top: Color, bottom: Color, rng: random.Random) -> Image.Image:
    """Two-colour linear gradient at a seed-dependent angle."""
    mask = Image.linear_gradient("L").rotate(rng.uniform(0, 360), resample=Image.Resampling.BILINEAR)
    mask = mask.crop((38, 38, 218, 218)).resize(size, Image.Resampling.BILINEAR)  # inside the rotated square
    return Image.composite(Image.new("RGB", size, top), Image.new("RGB", size, bottom), mask)


def _draw_shapes(
    image: Image.Image, palette: list[Color], rng: random.Random, nudge: random.Random | None = None
) -> None:
    """Draw the layout ``rng`` gives; ``nudge`` (a near-duplicate's) moves each shape by a few pixels."""
    draw = ImageDraw.Draw(image, "RGBA")
    width, height = image.size
    reach = NEAR_DUPLICATE_NUDGE * min(width, height)
    for _ in range(rng.randint(7, 12)):
        r, g, b = rng.choice([*palette[2:], (255, 255, 255)])
        fill = (r, g, b, rng.randint(90, 200))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        if nudge is not None:
            cx, cy = cx + nudge.uniform(-reach, reach), cy + nudge.uniform(-reach, reach)
        radius = rng.uniform(0.05, 0.3) * min(width, height) + 1
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        kind = rng.randrange(3)
        if kind == 0:
            draw.ellipse(box, fill=fill)
        elif kind == 1:
            draw.rectangle(box, fill=fill)
        else:
            sides = rng.randint(3, 6)
            draw.regular_polygon((cx, cy, radius), sides, rotation=rng.uniform(0, 360), fill=fill)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fit_text(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: float) -> str:
    """Truncate `text` with "..." so that it fits in max_width pixels."""
    if not isinstance(font, ImageFont.FreeTypeFont):  # the bitmap fallback font is latin-1 only
        text = text.encode("latin-1", "replace").decode("latin-1")
    text = " ".join(text.split())
    if font.getlength(text) <= max_width:
        return text
    approx = int(max_width / max(1.0, font.getlength("n")))
    text = text[: approx + 1]
    while text and font.getlength(text + "...") > max_width:
        text = text[:-1]
    return text.rstrip() + "..."


def _draw_caption(image: Image.Image, prompt: str, caption_right: str) -> None:
    """Dark band at the bottom with the (truncated) prompt and the generation parameters."""
    width, height = image.size
    band = max(20, height // 14)
    font = _font(max(10, band // 2))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height - band, width, height), fill=(16, 16, 20))
    margin = band // 3
    right = _fit_text(caption_right, font, width / 3)
    right_width = font.getlength(right)
    draw.text(
        (width - margin - right_width, height - band / 2), right, fill=(170, 170, 180), font=font, anchor="lm"
    )
    left = _fit_text(prompt, font, width - right_width - 3 * margin)
    draw.text((margin, height - band / 2), left, fill=(240, 240, 240), font=font, anchor="lm")


@lru_cache(maxsize=64)  # room for a whole image pool (sandbox.config.MAX_IMAGE_POOL) of one shape
def render_png(
    prompt: str,
    seed: int,
    model: str,
    aspect_ratio: str,
    megapixels: str,
    index: int,
    near_duplicates: bool = False,
) -> bytes:
    """Render output number `index` (1-based) of a generation as PNG bytes.

    With ``near_duplicates`` every output has the layout of output 1, its shapes nudged by a few pixels
    (none for output 1, which is the usual picture): near-duplicates of one another, as variations of one
    idea are, whose perceptual hashes differ by a few bits only.
    """
    width, height = image_size(aspect_ratio, megapixels)
    palette = _palette(prompt)
    rng = _layout_rng(prompt, seed, model, aspect_ratio, megapixels, 1 if near_duplicates else index)
    nudge = None
    if near_duplicates and index > 1:
        nudge = random.Random(hashlib.sha256(f"near-duplicate {index}".encode()).digest())
    small = (max(1, width // _SCALE), max(1, height // _SCALE))
    image = _background(small, palette[0], palette[1], rng)
    _draw_shapes(image, palette, rng, nudge)
    image = image.resize((width, height), Image.Resampling.BILINEAR)
    _draw_caption(image, prompt, f"{model} · seed {seed} · #{index}")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def with_text(png: bytes, keyword: str, text: str) -> bytes:
    """``png`` with a tEXt chunk added just before its IEND: other file bytes, the same pixels."""
    end = png.rindex(b"IEND") - 4  # the chunk's length field
    data = keyword.encode("latin-1") + b"\x00" + text.encode("latin-1")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return png[:end] + chunk + png[end:]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=1)
def bomb_png(side: int = 20_000) -> bytes:
    """A valid all-black 1-bit PNG of ``side``² pixels (400 MP by default) in ~50 KB: a decompression bomb."""
    row = bytes(1 + (side + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    blocks, rest = divmod(side, 512)
    data = b"".join(compressor.compress(row * 512) for _ in range(blocks))
    data += compressor.compress(row * rest) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )
