"""Checking that downloaded bytes are a sane image, and making thumbnails."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

ALLOWED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
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
    """Decode ``data`` fully with Pillow; refuse anything that is not a whole PNG/JPEG/WebP of sane size."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
                if fmt not in ALLOWED_FORMATS:
                    raise InvalidImage(f"Unsupported image format {fmt or 'unknown'}.")
                if (
                    width < 1
                    or height < 1
                    or width > MAX_SIDE
                    or height > MAX_SIDE
                    or width * height > MAX_PIXELS
                ):
                    raise InvalidImage(f"Image dimensions {width}x{height} are not plausible.")
                probe.verify()
            with PILImage.open(io.BytesIO(data)) as full:
                full.load()  # verify() does not decode pixel data: a truncated body fails here.
    except InvalidImage:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, PILImage.DecompressionBombError) as exc:
        raise InvalidImage(f"The downloaded file is not a valid image ({exc}).") from exc
    except PILImage.DecompressionBombWarning as exc:
        raise InvalidImage("The image is too large to decode safely.") from exc
    return VerifiedImage(
        data=data,
        content_type=ALLOWED_FORMATS[fmt],
        extension={"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[fmt],
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def make_thumbnail(data: bytes, *, side: int = THUMBNAIL_SIDE) -> bytes:
    """A WebP no larger than ``side`` pixels on its long edge."""
    with PILImage.open(io.BytesIO(data)) as source:
        source.thumbnail((side, side), PILImage.Resampling.LANCZOS)
        image = source.convert("RGBA" if source.mode in ("RGBA", "LA", "P") else "RGB")
        out = io.BytesIO()
        image.save(out, format="WEBP", quality=82, method=4)
        return out.getvalue()
