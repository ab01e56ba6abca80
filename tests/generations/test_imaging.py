"""Verifying downloaded bytes with Pillow (whole PNG/JPEG/WebP of sane size only) and making thumbnails."""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image as PILImage
from PIL import ImageFile

from generations.imaging import MAX_PIXELS, MAX_SIDE, InvalidImage, make_thumbnail, verify_image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


@functools.cache
def solid_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG, compressed row block by row block: huge images shrink to a few KB."""
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    blocks, rest = divmod(height, 512)
    data = b"".join(compressor.compress(row * 512) for _ in range(blocks))
    data += compressor.compress(row * rest) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def encoded(fmt: str, size: tuple[int, int] = (96, 64), mode: str = "RGB") -> bytes:
    """A noisy picture (so it does not compress to nothing) encoded as ``fmt``."""
    picture = PILImage.effect_noise(size, 64).convert(mode)
    out = io.BytesIO()
    picture.save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp")],
)
def test_whole_png_jpeg_and_webp_are_accepted_with_type_size_and_hash(fmt, content_type, extension):
    data = encoded(fmt, (96, 64))

    verified = verify_image(data)

    assert (verified.content_type, verified.extension) == (content_type, extension)
    assert (verified.width, verified.height) == (96, 64)
    assert verified.sha256 == hashlib.sha256(data).hexdigest() and verified.data == data


def test_hand_built_solid_png_is_a_real_image():
    verified = verify_image(solid_png(64, 40))
    assert (verified.width, verified.height, verified.content_type) == (64, 40, "image/png")


def test_decompression_bomb_is_refused_without_decoding_it(monkeypatch):
    bomb = solid_png(20_000, 20_000)  # 400 megapixels in ~50 KB
    assert len(bomb) < 100_000

    decoded: list[object] = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda image: decoded.append(image) or real_load(image))
    with pytest.raises(InvalidImage, match="too large to decode safely"):
        verify_image(bomb)
    assert decoded == [], "Pillow never started decoding its pixels"


def test_image_over_the_pixel_budget_is_refused_even_below_pillows_own_limit():
    side = 8_500  # 72 MP: over our budget, under Pillow's 89 MP warning threshold
    assert side * side > MAX_PIXELS and side <= MAX_SIDE
    with pytest.raises(InvalidImage, match=r"too large to decode safely \(8500x8500"):
        verify_image(solid_png(side, side))


def test_absurdly_long_image_is_refused():
    with pytest.raises(InvalidImage, match=f"dimensions {MAX_SIDE + 1}x1 are not plausible"):
        verify_image(solid_png(MAX_SIDE + 1, 1))


def test_truncated_png_is_refused():
    data = encoded("PNG", (256, 256))
    with pytest.raises(InvalidImage, match="not a valid image"):
        verify_image(data[: len(data) // 2])


def test_png_with_a_corrupted_chunk_is_refused():
    data = bytearray(encoded("PNG", (64, 64)))
    data[len(data) // 2] ^= 0xFF  # inside the pixel data: its CRC no longer matches
    with pytest.raises(InvalidImage, match="not a valid image"):
        verify_image(bytes(data))


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_refused(fmt):
    with pytest.raises(InvalidImage, match="not a PNG, JPEG or WebP image"):
        verify_image(encoded(fmt))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"<html><body>Access denied</body></html>", "not a PNG, JPEG or WebP image"),
        (PNG_SIGNATURE, "not a PNG, JPEG or WebP image"),
    ],
)
def test_non_images_are_refused_with_a_readable_message(data, message):
    with pytest.raises(InvalidImage, match=message):
        verify_image(data)


def test_thumbnail_is_a_webp_within_512_pixels_keeping_the_aspect_ratio():
    thumbnail = make_thumbnail(solid_png(1600, 900))
    with PILImage.open(io.BytesIO(thumbnail)) as picture:
        assert picture.format == "WEBP"
        assert picture.size == (512, 288)


def test_thumbnail_keeps_transparency_and_never_upscales():
    picture = PILImage.new("RGBA", (120, 80), (255, 0, 0, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 60, 80))  # left half fully transparent
    source = io.BytesIO()
    picture.save(source, format="PNG")

    with PILImage.open(io.BytesIO(make_thumbnail(source.getvalue()))) as thumbnail:
        assert thumbnail.size == (120, 80)
        assert thumbnail.mode == "RGBA"
        assert thumbnail.getpixel((10, 40))[3] == 0 and thumbnail.getpixel((110, 40))[3] == 255
