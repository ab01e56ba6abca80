"""Checking that downloaded bytes are a sane image, and making its thumbnail, in bounded memory.

Rules, in order:

* only PNG, JPEG and WebP are opened, and the dimensions in the header are checked before any pixel is
  decoded: ``MAX_SIDE`` and ``MAX_PIXELS`` refuse absurd shapes and decompression bombs;
* the file's structure is checked (``Image.verify()``: chunk checksums, a whole PNG), then every pixel is
  decoded once, while making the thumbnail: a truncated or corrupt body fails there;
* no image is held at full size when that can be avoided: a JPEG is decoded already scaled down by its
  decoder (``draft``), a large 8-bit non-interlaced PNG is decoded a strip of rows at a time, each strip
  reduced before the next is decoded; anything else (WebP, interlaced or 16-bit PNG, and the coefficients of
  a progressive JPEG) is decoded whole, and only if that fits in ``WHOLE_DECODE_MAX_BYTES``.

The stored original is always the downloaded bytes, untouched; only the thumbnails are made from pixels:
two WebPs (``THUMBNAIL_SIDE`` and ``SMALL_THUMBNAIL_SIDE`` on the long edge, for ``srcset``), both resampled
from the one reduced decode. The perceptual hash (``similarity.perceptual_hash``) is read from the larger
thumbnail's picture before it is encoded: no second decode.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from generations.similarity import perceptual_hash

ALLOWED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
FORMAT_NAMES = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}
MAX_PIXELS = 64_000_000  # PixelDojo's largest outputs are a few megapixels; this refuses decompression bombs.
MAX_SIDE = 16_384
WHOLE_DECODE_MAX_BYTES = 96 * 1024 * 1024  # decoding memory of an image that cannot be decoded in strips
SMALL_DECODE_BYTES = 16 * 1024 * 1024  # an image this small (2048² RGBA) is decoded whole: simpler, faster
STRIP_BYTES = 4 * 1024 * 1024  # about this much pixel memory per decoded PNG strip
THUMBNAIL_SIDE = 640  # the large thumbnail (2x tiles of about 320 CSS pixels); images stored before: 512
SMALL_THUMBNAIL_SIDE = 320
REDUCING_GAP = 2.0  # as Pillow's thumbnail(): reduce by whole factors to 2x the size, then resample
# Pillow's thumbnail() default: from at most 2x the size it looks as LANCZOS does, at half the cost.
THUMBNAIL_RESAMPLE = PILImage.Resampling.BICUBIC
# libwebp's effort (0-6, its default 4): 2 is 2-3x faster than 4, files within a few % of its size
# (docs/BENCHMARKS.md, issue 13).
WEBP_METHOD = 2
WEBP_QUALITY = 82

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_STRIP_MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "P": 1}  # 8-bit modes: channels per pixel
BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}  # Pillow's storage; others: 4


NOT_AN_IMAGE = "The file PixelDojo sent is not a valid PNG, JPEG or WebP image."


class InvalidImage(Exception):
    """The bytes are not an image we accept (a fact about the bytes: fetching them again will not help).

    The message is for people; ``detail`` is the decoder's own words, for the logs.
    """

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class VerifiedImage:
    data: bytes = field(repr=False)
    content_type: str
    extension: str
    width: int
    height: int
    sha256: str
    thumbnail: bytes = field(repr=False)  # a WebP no larger than the thumbnail side on its long edge
    thumbnail_small: bytes = field(repr=False, default=b"")  # the same, no larger than the small side
    phash: int | None = None  # the perceptual hash of the larger thumbnail's picture (signed 64 bits)


def verify_image(
    data: bytes, *, thumbnail_side: int = THUMBNAIL_SIDE, small_side: int = SMALL_THUMBNAIL_SIDE
) -> VerifiedImage:
    """Check that ``data`` is a whole PNG/JPEG/WebP of sane size by decoding it once, into its thumbnails.

    Dimensions are checked from the header before any pixel is decoded, so a decompression bomb is refused
    without allocating its pixels; decoding itself is bounded as the module's rules say.
    """
    if not data:
        raise InvalidImage("The file PixelDojo sent is empty.")
    fmt = ""
    try:
        fmt, width, height = _probe(data)
        (thumbnail, thumbnail_small), phash = _thumbnails(
            data, fmt, width, height, (thumbnail_side, small_side)
        )
    except (InvalidImage, MemoryError):  # running out of memory says nothing about the bytes
        raise
    except PILImage.DecompressionBombError as exc:
        raise InvalidImage(
            "The image PixelDojo sent is too large to decode safely (a likely decompression bomb)."
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage(NOT_AN_IMAGE, detail=str(exc)) from exc
    except Exception as exc:  # any decoder failure on untrusted bytes means "not a valid image".
        raise _broken(fmt, exc) from exc
    return VerifiedImage(
        data=data,
        content_type=ALLOWED_FORMATS[fmt],
        extension=EXTENSIONS[fmt],
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        thumbnail=thumbnail,
        thumbnail_small=thumbnail_small,
        phash=phash,
    )


def make_thumbnail(data: bytes, *, side: int = THUMBNAIL_SIDE) -> bytes:
    """A WebP no larger than ``side`` pixels on its long edge (the image is verified on the way)."""
    return verify_image(data, thumbnail_side=side, small_side=min(side, SMALL_THUMBNAIL_SIDE)).thumbnail


def _probe(data: bytes) -> tuple[str, int, int]:
    """Format and size from the header, refusing implausible dimensions; then Pillow's structural check."""
    with PILImage.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as probe:
        fmt = probe.format or ""
        width, height = probe.size
        if fmt not in ALLOWED_FORMATS:
            raise InvalidImage(NOT_AN_IMAGE)
        _check_dimensions(width, height)
        try:
            probe.verify()  # reads the structure and checksums; decodes no pixel
        except Exception as exc:
            raise _broken(fmt, exc) from exc
    return fmt, width, height


def _broken(fmt: str, exc: Exception) -> InvalidImage:
    """The error for bytes of a known format (or none yet) that its decoder refused."""
    if fmt not in FORMAT_NAMES:
        return InvalidImage(NOT_AN_IMAGE, detail=str(exc))
    return InvalidImage(
        f"The file PixelDojo sent is not a valid {FORMAT_NAMES[fmt]} image (damaged or incomplete).",
        detail=f"{type(exc).__name__}: {exc}",
    )


def _check_dimensions(width: int, height: int) -> None:
    """Refuse empty, absurdly long or decompression-bomb-sized images before decoding them."""
    if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE:
        raise InvalidImage(
            f"The image PixelDojo sent has dimensions {width}x{height}, which are not plausible "
            "for a generated image."
        )
    if width * height > MAX_PIXELS:
        raise InvalidImage(
            f"The image PixelDojo sent is too large to decode safely ({width}x{height}, "
            f"more than {MAX_PIXELS:,} pixels)."
        )


# --- The thumbnail, decoded in bounded memory ----------------------------------------------------------


def thumbnail_size(width: int, height: int, side: int) -> tuple[int, int]:
    """The pixel size of an image's thumbnail no larger than ``side`` on its long edge (for ``srcset``)."""
    return _thumbnail_size(width, height, side)


def _thumbnails(
    data: bytes, fmt: str, width: int, height: int, sides: tuple[int, ...]
) -> tuple[list[bytes], int]:
    """Decode every pixel of ``data`` once, in bands that are reduced as they come (enough for the largest
    side); resample and encode one WebP per side from that reduced picture. With them, the perceptual hash
    of the first side's picture."""
    size = _thumbnail_size(width, height, max(sides))
    with PILImage.open(io.BytesIO(data), formats=[fmt]) as image:
        alpha = image.mode in ("RGBA", "LA", "P", "PA") or "transparency" in image.info
        box: tuple[float, float, float, float] = (0, 0, width, height)
        if fmt == "JPEG":
            drafted = image.draft(None, (int(size[0] * REDUCING_GAP), int(size[1] * REDUCING_GAP)))
            if drafted is not None:
                box = drafted[1]
        factor = (
            int((box[2] - box[0]) / size[0] / REDUCING_GAP) or 1,
            int((box[3] - box[1]) / size[1] / REDUCING_GAP) or 1,
        )
        rows = factor[1] * max(1, STRIP_BYTES // (image.width * 4 * factor[1]))
        mode = "RGBa" if alpha else "RGB"
        if _decoded_bytes(image) > SMALL_DECODE_BYTES and _png_strips_possible(image):
            bands = _png_strips(data, image.mode, image.width, image.height, rows)
        else:
            _check_whole_decoding(image, fmt, (width, height))
            # converted band by band (no second full-size copy), unless it needs no conversion
            bands = _whole_bands(image, rows if image.mode != mode else image.height)
        reduced = _reduce_bands(bands, image.size, factor, mode)
        box = (box[0] / factor[0], box[1] / factor[1], box[2] / factor[0], box[3] / factor[1])
        encoded = []
        phash = 0
        for side in sides:
            target = _thumbnail_size(width, height, side)
            picture = reduced.resize(target, THUMBNAIL_RESAMPLE, box=box)
            out = io.BytesIO()
            picture = picture.convert("RGBA" if alpha else "RGB")
            if not encoded:
                phash = perceptual_hash(picture)
            picture.save(out, format="WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
            encoded.append(out.getvalue())
    return encoded, phash


def _thumbnail_size(width: int, height: int, side: int) -> tuple[int, int]:
    """The size Pillow's ``thumbnail((side, side))`` gives: the aspect ratio kept, never enlarged."""
    if width <= side and height <= side:
        return width, height
    aspect = width / height
    if aspect >= 1:
        tall = height * side / width
        return side, max(min(math.floor(tall), math.ceil(tall), key=lambda n: abs(aspect - side / n)), 1)
    wide = width * side / height
    return max(min(math.floor(wide), math.ceil(wide), key=lambda n: abs(aspect - n / side)), 1), side


def _reduce_bands(
    bands: Iterator[PILImage.Image], size: tuple[int, int], factor: tuple[int, int], mode: str
) -> PILImage.Image:
    """Reduce each horizontal band (its height a multiple of ``factor[1]``) by ``factor`` into one image.

    ``mode`` "RGBa" (premultiplied alpha, as Pillow reduces RGBA) or "RGB".
    """
    columns, lines = -(-size[0] // factor[0]), -(-size[1] // factor[1])
    reduced: PILImage.Image | None = None
    top = 0
    for band in bands:
        if mode == "RGBa":
            band = band.convert("RGBA").convert("RGBa")
        elif band.mode != mode:
            band = band.convert(mode)
        if factor != (1, 1):
            band = band.reduce(factor)
        if reduced is None and band.height == lines:
            reduced = band  # one band was the whole image
        else:
            reduced = reduced or PILImage.new(mode, (columns, lines))
            reduced.paste(band, (0, top))
        top += band.height
    if reduced is None or top != lines:
        raise ValueError(f"{top} of {lines} reduced rows decoded")
    return reduced


def _decoded_bytes(image: PILImage.Image) -> int:
    """The memory Pillow takes for the (possibly drafted) image's pixels."""
    return image.width * image.height * BYTES_PER_PIXEL.get(image.mode, 4)


def _check_whole_decoding(image: PILImage.Image, fmt: str, size: tuple[int, int]) -> None:
    """Refuse an image whose decoding at once would take more than ``WHOLE_DECODE_MAX_BYTES``.

    Measured (``bench/image_memory.py``): libwebp and Pillow hold about four RGBA copies of a WebP; a
    progressive JPEG keeps its DCT coefficients (2 bytes per sample) at full size, however it is drafted.
    """
    kind, needed = FORMAT_NAMES[fmt], _decoded_bytes(image)
    if fmt == "WEBP":
        needed = image.width * image.height * 16
    elif fmt == "JPEG" and image.info.get("progressive"):
        coefficients = 2 * size[0] * size[1] * _jpeg_samples_per_pixel(image)
        kind, needed = "progressive JPEG", needed + int(coefficients)
    elif fmt == "PNG":
        kind = "PNG of this kind (interlaced, or 16 or fewer than 8 bits per sample)"
    if needed > WHOLE_DECODE_MAX_BYTES:
        raise InvalidImage(
            f"The image PixelDojo sent is too large to decode safely ({size[0]}x{size[1]}: "
            f"a {kind} this large needs more than {WHOLE_DECODE_MAX_BYTES // 2**20} MB of memory)."
        )


def _jpeg_samples_per_pixel(image: PILImage.Image) -> float:
    """Samples per pixel over all components of a JPEG, from their sampling factors (3.0 when unknown)."""
    layers = getattr(image, "layer", [])
    if not layers:
        return 3.0
    largest = max(h for _, h, _, _ in layers) * max(v for _, _, v, _ in layers)
    return sum(h * v for _, h, v, _ in layers) / largest


def _whole_bands(image: PILImage.Image, rows: int) -> Iterator[PILImage.Image]:
    """The image decoded at once (drafted, for a JPEG), then handed on band by band."""
    image.load()
    if image.height <= rows:
        yield image
        return
    for top in range(0, image.height, rows):
        yield image.crop((0, top, image.width, min(image.height, top + rows)))


# --- PNG strips ----------------------------------------------------------------------------------------


def _png_strips_possible(image: PILImage.Image) -> bool:
    """An 8-bit, non-interlaced PNG whose decoded rows are its raw rows (so a strip can seed the next)."""
    if image.format != "PNG" or image.info.get("interlace") or len(image.tile) != 1:
        return False
    tile = image.tile[0]
    return tile.codec_name == "zip" and tile.args == image.mode and image.mode in PNG_STRIP_MODES


def _png_strips(data: bytes, mode: str, width: int, height: int, rows: int) -> Iterator[PILImage.Image]:
    """The PNG's pixels, ``rows`` rows at a time, decoded by Pillow from its own IDAT stream.

    The zlib stream is inflated incrementally; each strip becomes a small PNG of its own, led by the previous
    strip's last row unfiltered (the first row of a strip may be filtered against it), which is then dropped.
    """
    header, palette_chunks, idat = _png_parts(data)
    row_bytes = 1 + width * PNG_STRIP_MODES[mode]
    inflater = zlib.decompressobj()
    pieces = iter(idat)
    previous = b""
    for top in range(0, height, rows):
        count = min(rows, height - top)
        filtered = _inflate(inflater, pieces, count * row_bytes)
        lead = 1 if previous else 0
        strip = _decode_png_rows(
            header, palette_chunks, b"\x00" + previous + filtered if lead else filtered, count + lead
        )
        if strip.mode != mode or strip.size != (width, count + lead):
            raise ValueError(f"a strip decoded as {strip.mode} {strip.size}, not {mode} {width}x{count}")
        previous = strip.crop((0, count + lead - 1, width, count + lead)).tobytes()
        yield strip.crop((0, lead, width, count + lead)) if lead else strip


def _png_parts(data: bytes) -> tuple[bytes, bytes, list[memoryview]]:
    """IHDR's data, the PLTE/tRNS chunks as they are, and the IDAT chunks' data in order."""
    view = memoryview(data)
    position = len(PNG_SIGNATURE)
    header, palette_chunks, idat = b"", b"", []
    while position + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, position)
        tag = bytes(view[position + 4 : position + 8])
        end = position + 12 + length
        if end > len(data):
            break
        if tag == b"IHDR":
            header = bytes(view[position + 8 : position + 8 + length])
        elif tag in (b"PLTE", b"tRNS"):
            palette_chunks += bytes(view[position:end])
        elif tag == b"IDAT":
            idat.append(view[position + 8 : position + 8 + length])
        elif tag == b"IEND":
            break
        position = end
    if len(header) != 13 or not idat:
        raise ValueError("no IHDR or no IDAT chunk")
    return header, palette_chunks, idat


def _inflate(inflater: zlib._Decompress, pieces: Iterator[memoryview], size: int) -> bytes:
    """Exactly ``size`` more bytes of the zlib stream, reading IDAT pieces as needed."""
    out: list[bytes] = []
    missing = size
    while missing > 0:
        source = inflater.unconsumed_tail or next(pieces, None)
        if source is None or inflater.eof:
            raise ValueError("the pixel data ends before the last row")
        chunk = inflater.decompress(source, missing)
        out.append(chunk)
        missing -= len(chunk)
    return b"".join(out)


def _decode_png_rows(header: bytes, palette_chunks: bytes, filtered: bytes, count: int) -> PILImage.Image:
    """Pillow's decoding of ``count`` filtered rows, as a PNG with the original's header and palette."""
    strip_header = header[:4] + struct.pack(">I", count) + header[8:]
    pixels = zlib.compress(filtered, 0)
    png = b"".join(
        (
            PNG_SIGNATURE,
            png_chunk(b"IHDR", strip_header),
            palette_chunks,
            struct.pack(">I", len(pixels)),
            b"IDAT",
            pixels,
            struct.pack(">I", zlib.crc32(pixels, zlib.crc32(b"IDAT"))),
            png_chunk(b"IEND", b""),
        )
    )
    strip = PILImage.open(io.BytesIO(png), formats=["PNG"])  # not closed: closing would drop the pixels
    strip.load()
    return strip


def png_chunk(tag: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, tag, data and CRC."""
    crc = zlib.crc32(data, zlib.crc32(tag))
    return b"".join((struct.pack(">I", len(data)), tag, data, struct.pack(">I", crc)))
