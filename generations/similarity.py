"""Perceptual hashes of images and the arithmetic of finding near ones fast (no ORM, no HTTP).

An image's hash is ``imagehash.phash``: 64 bits from the low frequencies of a 32x32 grey picture, so that
re-encoding, resizing or nudging a few shapes flips a few bits and another picture flips about half of
them. Two images are "similar" when their hashes differ in at most ``SIMILAR_DISTANCE`` bits (Hamming
distance).

Finding them without comparing with every row is multi-index hashing: the 64 bits are cut into
``BANDS`` bands of 16 bits, each kept in an indexed column. If two hashes differ in at most ``r`` bits,
then (pigeonhole) at least one of the four bands differs in at most ``r // 4`` bits. So the rows to look at
are those whose band ``i`` equals one of the values within ``r // 4`` bits of the query's band ``i``, for
some ``i`` — an indexed ``IN`` lookup per band (137 values per band for r = 10) — and the exact distance is
then computed on those candidates alone. Nothing within ``r`` is missed; the property test in
``tests/library/test_similar.py`` compares it with a full scan.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

from PIL import Image as PILImage

HASH_BITS = 64
BANDS = 4
BAND_BITS = HASH_BITS // BANDS
BAND_MASK = (1 << BAND_BITS) - 1
# Near-duplicates (the same idea re-rolled with a few shapes moved) measured 0 to 10 bits apart on the
# sandbox's pictures; unrelated pictures 20 to 38 (docs/BENCHMARKS.md, section 13).
SIMILAR_DISTANCE = 10
_SIGN = 1 << (HASH_BITS - 1)


def perceptual_hash(picture: PILImage.Image) -> int:
    """The 64-bit phash of ``picture`` as a signed integer (what a PostgreSQL ``bigint`` holds).

    Take the picture already decoded for the thumbnails: the hash reads a 32x32 grey version, so a
    640-pixel thumbnail gives the same bits as the original (within a bit or two) at a fraction of the work.
    """
    import imagehash  # numpy and scipy load once, in the process that hashes

    bits = imagehash.phash(picture).hash.flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return to_signed(value)


def to_signed(value: int) -> int:
    """An unsigned 64-bit value as the signed integer with the same bits."""
    return value - (1 << HASH_BITS) if value & _SIGN else value


def to_unsigned(value: int) -> int:
    """A signed 64-bit integer's bits as an unsigned value."""
    return value & ((1 << HASH_BITS) - 1)


def bands(phash: int) -> tuple[int, ...]:
    """The four 16-bit bands of a hash (signed or not), most significant first."""
    value = to_unsigned(phash)
    return tuple((value >> (BAND_BITS * (BANDS - 1 - i))) & BAND_MASK for i in range(BANDS))


def band_fields(phash: int | None) -> dict[str, int | None]:
    """The ``Image`` columns that hold a hash: ``phash`` and ``phash_band0`` … ``phash_band3``."""
    if phash is None:
        return {"phash": None, **{f"phash_band{i}": None for i in range(BANDS)}}
    return {"phash": phash, **{f"phash_band{i}": band for i, band in enumerate(bands(phash))}}


def distance(a: int, b: int) -> int:
    """Hamming distance between two hashes (signed or not)."""
    return (to_unsigned(a) ^ to_unsigned(b)).bit_count()


def band_radius(radius: int) -> int:
    """Bits a band may differ by so that every hash within ``radius`` shares one band within it."""
    return radius // BANDS


@lru_cache(maxsize=4)
def _flips(bits: int, radius: int) -> tuple[int, ...]:
    """Every mask of ``bits`` bits with at most ``radius`` bits set."""
    masks = [0]
    for count in range(1, radius + 1):
        for chosen in combinations(range(bits), count):
            masks.append(sum(1 << bit for bit in chosen))
    return tuple(masks)


def band_probes(phash: int, radius: int = SIMILAR_DISTANCE) -> list[list[int]]:
    """For each band, the values to look up: those within ``band_radius(radius)`` bits of the hash's band."""
    masks = _flips(BAND_BITS, band_radius(radius))
    return [sorted({band ^ mask for mask in masks}) for band in bands(phash)]


def clusters(hashes: list[tuple[int, int | None]], radius: int = SIMILAR_DISTANCE) -> dict[int, list[int]]:
    """Greedy clusters of ``(key, hash)`` pairs in their order: each key not yet taken leads a cluster of the
    later keys within ``radius`` of it. Keys without a hash are clusters of their own. ``{leader: members}``
    (members in order, without the leader)."""
    taken: set[int] = set()
    found: dict[int, list[int]] = {}
    for position, (key, phash) in enumerate(hashes):
        if key in taken:
            continue
        members: list[int] = []
        if phash is not None:
            for other, other_hash in hashes[position + 1 :]:
                if other not in taken and other_hash is not None and distance(phash, other_hash) <= radius:
                    members.append(other)
                    taken.add(other)
        found[key] = members
    return found
