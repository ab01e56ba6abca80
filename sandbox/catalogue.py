"""The sandbox's model catalogue: ``GET /models?detailed=true`` and ``GET /models/{apiId}``.

Shapes as PixelDojo's public pages show them (``{"models": [...], "total", "imageCount", "videoCount"}``;
``creditCost`` ``{"default", "type", "amount"}``; a ``requestSchema`` per model). What is not public (how a
cost that depends on resolution is spelled) comes in two spellings here, so the client must read either.
Pure stdlib.
"""

from __future__ import annotations

import copy
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
