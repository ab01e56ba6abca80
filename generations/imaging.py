"""Checking that downloaded bytes are a sane image, and making thumbnails."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

ALLOWED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
MAX_PIXELS = 64_000_000  # PixelDojo's largest outputs are a few megapixels; this refuses decompression bombs.
MAX_SIDE = 16_384
THUMBNAIL_SIDE = 512


class InvalidImage(Exception):
    """The bytes are not an image we accept."""


@dataclass(frozen=True)
class VerifiedImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    sha256: str


def verify_image(data: bytes) -> VerifiedImage:
    """Decode ``data`` fully with Pillow; refuse anything that is not a whole PNG/JPEG/WebP of sane size.

    Only the three accepted decoders are tried, and the dimensions are checked from the header before any
    pixel is decoded, so a decompression bomb is refused without allocating its pixels.
    """
    if not data:
        raise InvalidImage("The downloaded file is empty.")
    try:
        fmt, width, height = _probe(data)
        with PILImage.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as full:
            full.load()  # verify() does not decode pixel data: a truncated body fails here.
    except InvalidImage:
        raise
    except PILImage.DecompressionBombError as exc:
        raise InvalidImage("The image is too large to decode safely (a likely decompression bomb).") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage("The downloaded file is not a PNG, JPEG or WebP image.") from exc
    except Exception as exc:  # any decoder failure on untrusted bytes means "not a valid image".
        raise InvalidImage(f"The downloaded file is not a valid image ({exc}).") from exc
    return VerifiedImage(
        data=data,
        content_type=ALLOWED_FORMATS[fmt],
        extension=EXTENSIONS[fmt],
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _probe(data: bytes) -> tuple[str, int, int]:
    """Format and size from the header, refusing implausible dimensions; then Pillow's structural check."""
    with PILImage.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as probe:
        fmt = probe.format or ""
        width, height = probe.size
        if fmt not in ALLOWED_FORMATS:
            raise InvalidImage(f"Unsupported image format {fmt or 'unknown'}.")
        _check_dimensions(width, height)
        probe.verify()
    return fmt, width, height


def _check_dimensions(width: int, height: int) -> None:
    """Refuse empty, absurdly long or decompression-bomb-sized images before decoding them."""
    if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE:
        raise InvalidImage(f"Image dimensions {width}x{height} are not plausible for a generated image.")
    if width * height > MAX_PIXELS:
        raise InvalidImage(
            f"The image is too large to decode safely ({width}x{height}, more than {MAX_PIXELS:,} pixels)."
        )


def make_thumbnail(data: bytes, *, side: int = THUMBNAIL_SIDE) -> bytes:
    """A WebP no larger than ``side`` pixels on its long edge."""
    with PILImage.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as source:
        source.thumbnail((side, side), PILImage.Resampling.LANCZOS)
        image = source.convert("RGBA" if source.mode in ("RGBA", "LA", "P") else "RGB")
        out = io.BytesIO()
        image.save(out, format="WEBP", quality=82, method=4)
        return out.getvalue()
