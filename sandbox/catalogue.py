"""The sandbox's model catalogue: ``GET /models?detailed=true`` and ``GET /models/{apiId}``.

Shapes as PixelDojo's public pages show them (``{"models": [...], "total", "imageCount", "videoCount"}``;
``creditCost`` ``{"default", "type", "amount"}``; a ``requestSchema`` per model). What is not public (how a
cost that depends on resolution is spelled) comes in two spellings here, so the client must read either.
Pure stdlib.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

ASPECT_RATIOS = ["1:1", "16:9", "9:16", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3"]
OUTPUT_FORMATS = ["png", "jpg", "webp"]


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ("prompt",)) -> dict[str, Any]:
    prompt = {"type": "string", "minLength": 1, "maxLength": 2000, "description": "What to draw."}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(required),
        "properties": {"prompt": prompt, **properties},
    }


def _fixed(amount: float) -> dict[str, Any]:
    return {"default": amount, "type": "fixed", "amount": amount}


ASPECT = {"type": "string", "enum": ASPECT_RATIOS, "default": "1:1", "description": "Shape of the image."}
SEED = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1, "description": "Same seed, same image."}
NUM_OUTPUTS = {"type": "integer", "minimum": 1, "maximum": 4, "default": 1, "description": "Images to make."}
OUTPUT_FORMAT = {"type": "string", "enum": OUTPUT_FORMATS, "default": "png"}
IMAGE_URL = {"type": "string", "format": "uri", "description": "The picture to work on (a public URL)."}

MODELS: list[dict[str, Any]] = [
    {
        "apiId": "flux-1.1-pro",
        "name": "Flux 1.1 Pro",
        "description": "Latest pro model with enhanced quality and strong prompt adherence.",
        "modality": "image",
        "creditCost": _fixed(1),
        "requestSchema": _schema({"aspect_ratio": ASPECT, "seed": SEED, "num_outputs": NUM_OUTPUTS}),
    },
    {
        "apiId": "flux-1.1-pro-ultra",
        "name": "Flux 1.1 Pro Ultra",
        "description": "Highest quality Flux model with raw mode for natural-looking images.",
        "modality": "image",
        "creditCost": _fixed(1.5),
        "requestSchema": _schema(
            {"aspect_ratio": ASPECT, "raw": {"type": "boolean", "default": False}, "seed": SEED}
        ),
    },
    {
        "apiId": "flux-dev",
        "name": "Flux Dev",
        "description": "High-quality development model with configurable steps, guidance, and LoRA support.",
        "modality": "image",
        "creditCost": _fixed(1),
        "requestSchema": _schema(
            {
                "aspect_ratio": ASPECT,
                "num_inference_steps": {"type": "integer", "minimum": 1, "maximum": 50, "default": 28},
                "guidance": {"type": "number", "minimum": 0, "maximum": 10, "default": 3.5},
                "lora_weights": {"type": "string", "format": "uri", "description": "Flux LoRA weights URL."},
                "num_outputs": NUM_OUTPUTS,
            }
        ),
    },
    {
        "apiId": "flux-kontext-max",
        "name": "Flux Kontext Max",
        "description": "Premium model with maximum performance and improved typography.",
        "modality": "image",
        "creditCost": _fixed(2),
        "requestSchema": _schema(
            {"image_url": IMAGE_URL, "aspect_ratio": ASPECT, "output_format": OUTPUT_FORMAT}
        ),
    },
    {
        "apiId": "flux-2-flex",
        "name": "Flux 2 Flex",
        "description": "Max-quality with up to 10 reference images.",
        "modality": "image",
        "creditCost": {
            "default": 1.5,
            "type": "resolution",
            "amount": 1.5,
            "tiers": [
                {"resolution": "0.5 MP", "amount": 1},
                {"resolution": "1 MP", "amount": 1.5},
                {"resolution": "2 MP", "amount": 3},
                {"resolution": "4 MP", "amount": 5},
            ],
        },
        "requestSchema": _schema(
            {
                "aspect_ratio": ASPECT,
                "resolution": {
                    "type": "string",
                    "enum": ["0.5 MP", "1 MP", "2 MP", "4 MP"],
                    "default": "1 MP",
                    "description": "Output size; the price depends on it.",
                },
                "num_outputs": NUM_OUTPUTS,
                "safety_tolerance": {"type": "integer", "minimum": 1, "maximum": 6, "default": 5},
                "prompt_upsampling": {"type": "boolean", "default": False},
                "seed": SEED,
                "output_format": OUTPUT_FORMAT,
                "image_urls": {"type": "array", "items": {"type": "string", "format": "uri"}, "maxItems": 10},
            }
        ),
    },
    {
        "apiId": "seedream-4",
        "name": "Seedream 4",
        "description": "ByteDance Seedream 4: up to 4 MP.",
        "modality": "image",
        "creditCost": {"default": 1, "type": "by_resolution", "byResolution": {"1": 1, "4": 2}},
        "requestSchema": _schema(
            {
                "megapixels": {"type": "string", "enum": ["1", "4"], "default": "1"},
                "aspect_ratio": ASPECT,
                "style": {
                    "type": "string",
                    "pattern": "^[a-z-]*$",
                    "maxLength": 40,
                    "description": "A style keyword: lowercase letters and dashes.",
                },
            }
        ),
    },
    {
        "apiId": "creative-upscale",
        "name": "Creative Upscale",
        "description": "Clarity Upscaler (creative upscale). Boost detail with stable-diffusion refinement.",
        "modality": "image",
        "creditCost": _fixed(0.5),
        "requestSchema": _schema(
            {
                "image_url": IMAGE_URL,
                "scale_factor": {"type": "number", "minimum": 1, "maximum": 4, "default": 2},
            },
            required=("prompt", "image_url"),
        ),
    },
    {
        "apiId": "face-enhance",
        "name": "Face Enhance",
        "description": "Face-detail preserving upscale.",
        "modality": "image",
        "creditCost": _fixed(2),
        "requestSchema": _schema({"image_url": IMAGE_URL}, required=("prompt", "image_url")),
    },
    {
        "apiId": "consistent-characters",
        "name": "Consistent Characters",
        "description": "Consistent character variations from reference pictures.",
        "modality": "image",
        "creditCost": _fixed(1),
        "requestSchema": _schema(
            {"reference_images": {"type": "array", "items": {"type": "string", "format": "uri"}}},
            required=("prompt", "reference_images"),
        ),
    },
    {
        "apiId": "kling-2.1",
        "name": "Kling 2.1",
        "description": "Video from text or an image.",
        "modality": "video",
        "creditCost": {"default": 1, "type": "per_second", "amount": 1},
        "requestSchema": _schema({"duration": {"type": "integer", "enum": [5, 10]}}),
    },
    {
        "apiId": "veo-3",
        "name": "Veo 3",
        "description": "Video with sound.",
        "modality": "video",
        "creditCost": {"default": 4, "type": "per_second", "amount": 4},
        "requestSchema": _schema({"duration": {"type": "integer", "enum": [8]}}),
    },
]
BY_ID: dict[str, dict[str, Any]] = {model["apiId"]: model for model in MODELS}


def model_list(*, detailed: bool) -> dict[str, Any]:
    """The body of ``GET /models``: every model without its schema (with its description when detailed)."""
    keys = ("apiId", "name", "modality", "creditCost") + (("description",) if detailed else ())
    models = [{key: copy.deepcopy(model[key]) for key in keys} for model in MODELS]
    images = sum(model["modality"] == "image" for model in MODELS)
    return {"models": models, "total": len(MODELS), "imageCount": images, "videoCount": len(MODELS) - images}


def model_detail(api_id: str) -> dict[str, Any] | None:
    """The body of ``GET /models/{apiId}`` (the model with its ``requestSchema``), or None when unknown."""
    model = BY_ID.get(api_id)
    return copy.deepcopy(model) if model is not None else None


# --- the job API: input validation and prices ---

_JSON_TYPES: dict[str, str] = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
}


def _has_type(value: Any, kind: str) -> bool:
    """JSON Schema's type check (an integer may be written 2.0; a boolean is not a number)."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return kind == "number" or isinstance(value, int) or value.is_integer()


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _value_error(name: str, value: Any, schema: dict[str, Any]) -> str | None:
    """What is wrong with ``value`` of field ``name`` under ``schema`` (None: nothing)."""
    kind = schema.get("type")
    if kind is not None and not _has_type(value, kind):
        return f"{name} must be {_JSON_TYPES.get(kind, kind)}"
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        return f"{name} must be one of {', '.join(map(json.dumps, schema['enum']))}"
    if _has_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{name} must be at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{name} must be at most {schema['maximum']}"
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{name} must be at least {schema['minLength']} character(s) long"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{name} must be at most {schema['maxLength']} characters long"
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            return f"{name} must match the pattern {schema['pattern']}"
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{name} must have at most {schema['maxItems']} item(s)"
        if "minItems" in schema and len(value) < schema["minItems"]:
            return f"{name} must have at least {schema['minItems']} item(s)"
        for n, item in enumerate(value):
            problem = _value_error(f"{name}[{n}]", item, schema.get("items", {}))
            if problem:
                return problem
    return None


def validation_error(schema: dict[str, Any], body: Any) -> str | None:
    """Check a request body against a model's ``requestSchema``; a message naming the field, or None.

    A small subset of JSON Schema, the one the catalogue uses: required, additionalProperties false, type,
    enum, minimum / maximum, minLength / maxLength, pattern, minItems / maxItems and items. ``format`` is
    not checked (as JSON Schema validators do by default).
    """
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    properties: dict[str, Any] = schema.get("properties", {})
    missing = [name for name in schema.get("required", ()) if name not in body]
    if missing:
        return f"{missing[0]} is required"
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(body) - set(properties))
        if unknown:
            return f"Unknown field(s): {', '.join(unknown)}"
    for name, value in body.items():
        problem = _value_error(name, value, properties.get(name, {}))
        if problem:
            return problem
    return None


def megapixels_text(value: Any) -> str | None:
    """A number of megapixels as a short string ("2", "0.5"), from 2, "2" or "2 MP"; None if not one."""
    if isinstance(value, bool):
        return None
    text = str(value).strip()
    if text.upper().endswith("MP"):
        text = text[:-2].strip()
    try:
        number = float(text)
    except ValueError:
        return None
    return f"{number:g}" if math.isfinite(number) and number > 0 else None


def unit_credits(api_id: str, body: dict[str, Any]) -> float:
    """Credits one image of model ``api_id`` costs with this input (KeyError for an unknown model).

    Fixed costs are their ``amount``. A "resolution" cost is the tier whose ``resolution`` equals
    ``body["resolution"]`` (or ``body["megapixels"]`` spelled like "2 MP"); a "by_resolution" cost is the
    ``byResolution`` entry of that many megapixels ("2"); else the cost's ``default``.
    """
    cost = BY_ID[api_id]["creditCost"]
    size = body.get("resolution", body.get("megapixels"))
    if cost["type"] == "resolution":
        for tier in cost.get("tiers", ()):
            if tier["resolution"] == size or (
                "resolution" not in body and f"{megapixels_text(size)} MP" == tier["resolution"]
            ):
                return float(tier["amount"])
    elif cost["type"] == "by_resolution":
        by_size = cost.get("byResolution", {})
        if megapixels_text(size) in by_size:
            return float(by_size[megapixels_text(size)])
    elif "amount" in cost:
        return float(cost["amount"])
    return float(cost["default"])


def job_credits(api_id: str, body: dict[str, Any]) -> float:
    """Credits a job of model ``api_id`` with input ``body`` costs: ``num_outputs`` (1 if absent) images."""
    count = body.get("num_outputs", 1)
    return round(int(count) * unit_credits(api_id, body), 9)
