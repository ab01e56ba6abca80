"""Verifying downloaded bytes with Pillow (whole PNG/JPEG/WebP of sane size only) and making thumbnails."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image as PILImage
from PIL import ImageChops, ImageFile, ImageStat

from bench.image_memory import flat_png
from generations import imaging
from generations.imaging import (
    MAX_PIXELS,
    MAX_SIDE,
    PNG_SIGNATURE,
    InvalidImage,
    make_thumbnail,
    png_chunk,
    verify_image,
)


@functools.cache
def solid_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG, compressed row block by row block: huge images shrink to a few KB."""
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    blocks, rest = divmod(height, 512)
    data = b"".join(compressor.compress(row * 512) for _ in range(blocks))
    data += compressor.compress(row * rest) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


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
    with pytest.raises(InvalidImage, match=f"dimensions {MAX_SIDE + 1}x1, which are not plausible"):
        verify_image(solid_png(MAX_SIDE + 1, 1))


DAMAGED = r"^The file PixelDojo sent is not a valid {} image \(damaged or incomplete\)\.$"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("PNG", DAMAGED.format("PNG")),
        ("JPEG", DAMAGED.format("JPEG")),
        (
            "WEBP",
            "^The file PixelDojo sent is not a valid PNG, JPEG or WebP image.$",
        ),  # Pillow cannot open it
    ],
)
def test_truncated_image_is_refused(fmt, message):
    data = encoded(fmt, (256, 256))
    with pytest.raises(InvalidImage, match=message) as caught:
        verify_image(data[: len(data) // 2])
    assert caught.value.detail  # the decoder's words, for the logs


def test_png_with_a_corrupted_chunk_is_refused():
    data = bytearray(encoded("PNG", (64, 64)))
    data[len(data) // 2] ^= 0xFF  # inside the pixel data: its CRC no longer matches
    with pytest.raises(InvalidImage, match=DAMAGED.format("PNG")):
        verify_image(bytes(data))


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_refused(fmt):
    with pytest.raises(InvalidImage, match="not a valid PNG, JPEG or WebP image"):
        verify_image(encoded(fmt))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "^The file PixelDojo sent is empty.$"),
        (
            b"<html><body>Access denied</body></html>",
            "^The file PixelDojo sent is not a valid PNG, JPEG or WebP",
        ),
        (PNG_SIGNATURE, "not a valid PNG, JPEG or WebP image"),
    ],
)
def test_non_images_are_refused_with_a_readable_message(data, message):
    with pytest.raises(InvalidImage, match=message):
        verify_image(data)


def test_thumbnails_are_webps_within_640_and_320_pixels_keeping_the_aspect_ratio():
    verified = verify_image(solid_png(1600, 900))
    for data, size in ((verified.thumbnail, (640, 360)), (verified.thumbnail_small, (320, 180))):
        with PILImage.open(io.BytesIO(data)) as picture:
            assert picture.format == "WEBP"
            assert picture.size == size == imaging.thumbnail_size(1600, 900, max(size))
    assert make_thumbnail(solid_png(1600, 900)) == verified.thumbnail


def test_both_thumbnails_of_a_small_image_keep_its_size():
    verified = verify_image(solid_png(300, 200))
    for data in (verified.thumbnail, verified.thumbnail_small):
        with PILImage.open(io.BytesIO(data)) as picture:
            assert picture.size == (300, 200)


def test_thumbnail_keeps_transparency_and_never_upscales():
    picture = PILImage.new("RGBA", (120, 80), (255, 0, 0, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 60, 80))  # left half fully transparent
    source = io.BytesIO()
    picture.save(source, format="PNG")

    with PILImage.open(io.BytesIO(make_thumbnail(source.getvalue()))) as thumbnail:
        assert thumbnail.size == (120, 80)
        assert thumbnail.mode == "RGBA"
        assert thumbnail.getpixel((10, 40))[3] == 0 and thumbnail.getpixel((110, 40))[3] == 255


def test_thumbnail_of_a_jpeg_is_made_from_a_reduced_decode_and_keeps_its_look():
    picture = PILImage.linear_gradient("L").resize((3000, 2000)).convert("RGB")
    source = io.BytesIO()
    picture.save(source, format="JPEG", quality=95)

    verified = verify_image(source.getvalue())
    for data, size in ((verified.thumbnail, (640, 427)), (verified.thumbnail_small, (320, 213))):
        with PILImage.open(io.BytesIO(data)) as thumbnail:
            assert thumbnail.size == size
            expected = picture.resize(thumbnail.size, PILImage.Resampling.LANCZOS)
            assert _mean_difference(thumbnail.convert("RGB"), expected) < 3


# --- Large PNGs, decoded a strip at a time --------------------------------------------------------------


def _mean_difference(one: PILImage.Image, other: PILImage.Image) -> float:
    return max(ImageStat.Stat(ImageChops.difference(one, other)).mean)


def _png(picture: PILImage.Image, **options) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="PNG", **options)
    return out.getvalue()


def _pictures() -> dict[str, tuple[PILImage.Image, dict]]:
    """Noise over gradients, one picture per 8-bit PNG colour type (Pillow filters their rows None, Sub, Up
    and Paeth)."""
    size = (61, 50)
    noise = PILImage.effect_noise(size, 90)
    gradient = PILImage.linear_gradient("L").resize(size)
    rgb = PILImage.merge("RGB", (noise, gradient, gradient.transpose(PILImage.Transpose.FLIP_TOP_BOTTOM)))
    rgba = rgb.copy()
    rgba.putalpha(gradient.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT))
    return {
        "L": (noise, {}),
        "LA": (PILImage.merge("LA", (noise, gradient)), {}),
        "RGB": (rgb, {}),
        "RGBA": (rgba, {}),
        "P": (rgb.quantize(200), {"transparency": 7}),
    }


def _paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
    return (left, up, corner)[distances.index(min(distances))]


def _png_filtered_every_way(picture: PILImage.Image) -> bytes:
    """``picture`` (RGBA) as a PNG whose rows use each of the five filter types in turn."""
    width, stride = picture.width, picture.width * 4
    raw, previous, rows = picture.tobytes(), bytes(stride), []
    for y in range(picture.height):
        row, kind = raw[y * stride : (y + 1) * stride], y % 5
        out = bytearray([kind])
        for x, value in enumerate(row):
            left = row[x - 4] if x >= 4 else 0
            corner = previous[x - 4] if x >= 4 else 0
            predictor = (0, left, previous[x], (left + previous[x]) // 2, _paeth(left, previous[x], corner))[
                kind
            ]
            out.append((value - predictor) % 256)
        rows.append(bytes(out))
        previous = row
    header = struct.pack(">IIBBBBB", width, picture.height, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"".join(rows))
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", pixels) + png_chunk(b"IEND", b"")


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "RGBA-every-filter"])
def test_png_strips_decode_exactly_what_pillow_decodes_whole(mode):
    picture, options = _pictures()[mode.removesuffix("-every-filter")]
    data = _png_filtered_every_way(picture) if mode.endswith("-every-filter") else _png(picture, **options)
    with PILImage.open(io.BytesIO(data)) as whole:
        assert imaging._png_strips_possible(whole)
        whole.load()

        strips = list(imaging._png_strips(data, whole.mode, whole.width, whole.height, rows=7))

        assert [strip.height for strip in strips] == [7] * 7 + [1]
        assert whole.tobytes() == picture.tobytes()
        assert b"".join(strip.tobytes() for strip in strips) == whole.tobytes()
        if mode == "P":
            assert strips[-1].info["transparency"] == 7 and strips[-1].getpalette() == whole.getpalette()


def test_large_png_thumbnail_is_made_in_strips_and_matches_pillows_own():
    side = 2400  # over SMALL_DECODE_BYTES: decoded a strip at a time
    gradient = PILImage.linear_gradient("L").resize((side, side))
    picture = PILImage.merge(
        "RGBA", (gradient, gradient.rotate(90), gradient.rotate(180), gradient.rotate(270))
    )
    data = _png(picture)
    with PILImage.open(io.BytesIO(data)) as opened:
        assert side * side * 4 > imaging.SMALL_DECODE_BYTES and imaging._png_strips_possible(opened)

    verified = verify_image(data)

    for webp, side in ((verified.thumbnail, 640), (verified.thumbnail_small, 320)):
        expected = picture.copy()
        expected.thumbnail((side, side), PILImage.Resampling.LANCZOS)
        with PILImage.open(io.BytesIO(webp)) as thumbnail:
            assert (thumbnail.format, thumbnail.mode, thumbnail.size) == ("WEBP", "RGBA", (side, side))
            # lossy WebP (libwebp method 2): 3.06 for the 320-pixel one; strips are exact (test above)
            assert _mean_difference(thumbnail, expected) < 3.5
    assert verified.data == data  # the original is kept byte for byte


def _rgba_png_with_rows(width: int, declared_height: int, rows: int) -> bytes:
    """An RGBA PNG whose header promises ``declared_height`` rows but whose pixel data holds ``rows``."""
    data = zlib.compress((b"\x00" + b"\x10\x20\x30\xff" * width) * rows)
    header = struct.pack(">IIBBBBB", width, declared_height, 8, 6, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def test_large_png_whose_pixel_data_ends_early_is_refused():
    # Decoding in strips counts the rows; Pillow, decoding a small image whole, leaves missing rows black.
    with pytest.raises(InvalidImage, match=DAMAGED.format("PNG")) as caught:
        verify_image(_rgba_png_with_rows(2100, 2100, 2097))
    assert "ends before the last row" in caught.value.detail


def test_png_with_an_unknown_row_filter_is_refused_in_strips():
    width, height = 2100, 2100
    rows = bytearray((b"\x00" + b"\x10\x20\x30\xff" * width) * height)
    rows[(1 + width * 4) * 1500] = 9  # filter types are 0 to 4
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    data = b"".join(
        (PNG_SIGNATURE, png_chunk(b"IHDR", header), png_chunk(b"IDAT", zlib.compress(bytes(rows))))
    )
    with pytest.raises(InvalidImage, match=DAMAGED.format("PNG")):
        verify_image(data + png_chunk(b"IEND", b""))


# --- What cannot be decoded in bounded memory is refused -------------------------------------------------


def test_large_webp_is_refused_before_it_is_decoded():
    side = 2600  # libwebp holds ~4 RGBA copies: 2600² needs more than WHOLE_DECODE_MAX_BYTES
    out = io.BytesIO()
    PILImage.new("RGB", (side, side), (30, 60, 90)).save(out, format="WEBP")

    with pytest.raises(InvalidImage, match=r"too large to decode safely \(2600x2600: a WebP this large"):
        verify_image(out.getvalue())
    verify_image(encoded("WEBP", (2048, 2048)))  # PixelDojo's largest (4 MP) outputs are fine


def _with_jpeg_size(data: bytes, marker: bytes, width: int, height: int) -> bytes:
    """``data`` with the frame header (SOFn ``marker``) claiming ``width`` x ``height``."""
    at = data.index(marker) + 5  # marker (2), length (2), precision (1), then height and width
    return data[:at] + struct.pack(">HH", height, width) + data[at + 4 :]


def test_large_progressive_jpeg_is_refused_before_it_is_decoded():
    out = io.BytesIO()
    PILImage.new("RGB", (64, 64), (30, 60, 90)).save(out, format="JPEG", progressive=True)
    huge = _with_jpeg_size(out.getvalue(), b"\xff\xc2", 6000, 6000)

    with pytest.raises(
        InvalidImage, match=r"\(6000x6000: a progressive JPEG this large needs more than 96 MB"
    ):
        verify_image(huge)


def test_large_sixteen_bit_png_is_refused_before_it_is_decoded():
    header = struct.pack(">IIBBBBB", 5200, 5200, 16, 6, 0, 0, 0)  # 16-bit RGBA: decoded whole only
    data = PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))

    with pytest.raises(InvalidImage, match=r"\(5200x5200: a PNG of this kind \(interlaced, or 16"):
        verify_image(data + png_chunk(b"IEND", b""))


def test_verifying_an_8000_pixel_square_png_grows_a_process_by_at_most_150_mb(tmp_path):
    path = tmp_path / "flat.png"
    path.write_bytes(flat_png(8000, 8000))  # ~250 KB that decodes to 256 MB of RGBA
    script = Path(__file__).resolve().parents[2] / "bench" / "image_memory.py"

    done = subprocess.run(
        [sys.executable, str(script), "--measure", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["size"] == [8000, 8000] and result["thumbnail_bytes"] > 0
    assert result["growth_mb"] <= 150, result
