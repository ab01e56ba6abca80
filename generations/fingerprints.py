"""What a generation asked for, as one short key: two submissions with the same key would get the same
images, so the second one can be offered the first one's instead of paying again.

The key is the SHA-256 of canonical JSON (sorted keys, no spaces) of the request with its prompt normalised
(case-folded, runs of whitespace made one space, stripped). POST /flux work hashes its model, aspect ratio,
megapixels, LoRA weights and scale, go_fast and seed (not the number of images); a catalogue model's job
hashes its model and whole input. Only a fixed seed makes the same images again, so work without one (no
seed, or a negative one such as -1: random) has no key (``""``) and is never reused.

No ORM here: ``Generation.fingerprint_for`` and the back-fill migration both call ``fingerprint``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

FINGERPRINT_LENGTH = 64  # hex SHA-256
# The stored fields of a generation a POST /flux request's key is made of (with its ``job_input``).
STORED_FIELDS = (
    "prompt",
    "model",
    "aspect_ratio",
    "megapixels",
    "lora_weights",
    "lora_scale",
    "go_fast",
    "seed",
)


def normalised_prompt(prompt: str) -> str:
    """The prompt as compared for reuse: case-folded, whitespace collapsed to single spaces, stripped."""
    return " ".join(prompt.casefold().split())


def fixed_seed(seed: object) -> int | None:
    """The seed when it is fixed (an integer ≥ 0), else None (unset, -1 or anything else: random)."""
    if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0:
        return seed
    return None


def _digest(value: Mapping[str, Any]) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(
    *,
    prompt: str,
    model: str,
    aspect_ratio: str = "",
    megapixels: str = "",
    lora_weights: str = "",
    lora_scale: float | None = None,
    go_fast: bool | None = None,
    seed: int | None = None,
    job_input: Mapping[str, Any] | None = None,
) -> str:
    """The reuse key of a generation as stored (blank text fields for unset ones), or ``""`` when it has no
    fixed seed. ``job_input`` non-empty: a catalogue model's job, keyed by its model and whole input."""
    if job_input:
        if fixed_seed(job_input.get("seed")) is None:
            return ""
        body = dict(job_input)
        body["prompt"] = normalised_prompt(str(body.get("prompt") or ""))
        return _digest({"kind": "job", "model": model, "input": body})
    if fixed_seed(seed) is None:
        return ""
    return _digest(
        {
            "kind": "flux",
            "prompt": normalised_prompt(prompt),
            "model": model,
            "aspect_ratio": aspect_ratio or "",
            "megapixels": megapixels or "",
            "lora_weights": lora_weights or "",
            "lora_scale": lora_scale,
            "go_fast": bool(go_fast),
            "seed": seed,
        }
    )


def fingerprints_backfill(generation_model: Any, *, batch: int = 2000) -> int:
    """Give rows of ``generation_model`` (the model class, or a migration's historical one) without a key
    theirs, ``batch`` rows by id at a time, each batch in its own transaction; returns how many got one."""
    from django.db import transaction

    last_id, keyed = 0, 0
    while True:
        rows = list(
            generation_model.objects.filter(id__gt=last_id, fingerprint="")
            .order_by("id")
            .only("id", "job_input", *STORED_FIELDS)[:batch]
        )
        if not rows:
            return keyed
        last_id = rows[-1].id
        changed = []
        for row in rows:
            row.fingerprint = fingerprint(
                **{name: getattr(row, name) for name in STORED_FIELDS}, job_input=row.job_input
            )
            if row.fingerprint:
                changed.append(row)
        with transaction.atomic():
            generation_model.objects.bulk_update(changed, ["fingerprint"], batch_size=batch)
        keyed += len(changed)
