"""Reading PixelDojo's model catalogue: cost rules and request schemas (pure: no ORM, no HTTP).

Rules written down first:
- A cost is read tolerantly (``{"type": "fixed", "amount"}``, a bare number, or tiers by resolution in a
  list or a mapping) and refused loudly when it cannot be read: such a model is not offered.
- A cost by resolution charges the cheapest tier at least as large as what was asked (rounded up, as
  PixelDojo's providers round up); asked for more than the largest tier, the largest; nothing asked, the
  rule's default (else its dearest tier, so a reservation is never short).
- A request schema is offered as a form only when every *required* parameter has a field the form can
  render (text, choice, integer, number, boolean, URL); optional parameters it cannot render are left out
  (never sent) and named for operators. Constructs the form cannot follow (``oneOf``, ``$ref``, …) at the top
  of a schema make it unsupported.
- Every request is validated against the model's schema with ``jsonschema`` before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import Any

from jsonschema import FormatChecker
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from credits.amounts import credits_label, format_credits, plain, tidy

MEGAPIXEL = Decimal(1024 * 1024)  # pixels in one megapixel as image APIs count it (1024 x 1024)
MAX_COST = Decimal(10**6)
CREDIT_PLACES = Decimal("0.0001")
FIXED_TYPES = frozenset({"", "fixed", "flat", "per_image", "per-image", "image"})
TIER_KEYS = ("tiers", "options", "resolutions", "byResolution", "by_resolution", "prices", "pricing")
AMOUNT_KEYS = ("amount", "credits", "cost", "price", "value")
RESOLUTION_KEYS = ("megapixels", "mp", "resolution", "label", "name", "size")
# Request parameters that say how large the output is, in the order they are looked at.
RESOLUTION_PARAMETERS = ("resolution", "megapixels", "output_megapixels", "size")
COUNT_PARAMETERS = ("num_outputs", "num_images", "n")
_MEGAPIXELS_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:mp|megapixels?)?\s*$", re.IGNORECASE)
_SIZE_TEXT = re.compile(r"^\s*(\d{2,5})\s*[x*×]\s*(\d{2,5})\s*$", re.IGNORECASE)  # noqa: RUF001
UNFOLLOWED = ("$ref", "oneOf", "anyOf", "allOf", "not", "if", "then", "else", "dependentSchemas")
UNFOLLOWED_TOP = (*UNFOLLOWED, "dependentRequired", "dependencies", "patternProperties")


class UnreadableCost(ValueError):
    """A ``creditCost`` this code cannot turn into a price; the message says why."""


class UnsupportedSchema(ValueError):
    """A ``requestSchema`` the form cannot render; the message says why, for operators."""


@dataclass(frozen=True)
class CostRule:
    """Credits per image: ``default``, or by resolution when ``tiers`` ((megapixels, credits), ascending)."""

    default: Decimal
    tiers: tuple[tuple[Decimal, Decimal], ...] = ()

    @property
    def by_resolution(self) -> bool:
        return bool(self.tiers)

    def cost(self, megapixels: Decimal | None = None) -> Decimal:
        """Credits one image costs at ``megapixels`` (None: not asked, the default)."""
        if not self.tiers or megapixels is None:
            return self.default
        for size, amount in self.tiers:
            if megapixels <= size:
                return amount
        return self.tiers[-1][1]

    @property
    def label(self) -> str:
        """``1.5 credits`` or ``0.5 MP = 1, 1 MP = 1.5, 2 MP = 3 credits`` for people."""
        if not self.tiers:
            return credits_label(self.default)
        parts = [f"{format_credits(size)} MP = {format_credits(amount)}" for size, amount in self.tiers]
        return f"{', '.join(parts)} credits"

    def to_json(self) -> str | dict[str, Any]:
        """For the browser's live price: a decimal string, or ``{"default", "tiers": [[mp, credits]]}``."""
        if not self.tiers:
            return plain(self.default)
        return {"default": plain(self.default), "tiers": [[plain(s), plain(a)] for s, a in self.tiers]}


def fixed_cost(amount: Decimal) -> CostRule:
    return CostRule(default=amount)


def _credits(value: Any, what: str) -> Decimal:
    """A number of credits (a JSON number or a numeric string), rounded up to 4 decimal places."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UnreadableCost(f"{what} is not a number ({value!r})")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise UnreadableCost(f"{what} is not a number ({value!r})") from None
    if not amount.is_finite() or amount < 0 or amount >= MAX_COST:
        raise UnreadableCost(f"{what} is out of range ({value!r})")
    return tidy(amount.quantize(CREDIT_PLACES, rounding=ROUND_UP))


def megapixels_from_text(value: Any) -> Decimal | None:
    """``"1 MP"``, ``"0.5"``, ``2``, ``"1024x1024"`` as megapixels; None when it says no size."""
    if isinstance(value, bool) or value is None:
        return None
    text = str(value)
    if match := _MEGAPIXELS_TEXT.match(text):
        return Decimal(match[1])
    if match := _SIZE_TEXT.match(text):
        return (Decimal(match[1]) * Decimal(match[2]) / MEGAPIXEL).quantize(Decimal("0.01"))
    return None


def _tiers(raw: Any) -> list[tuple[Decimal, Decimal]]:
    """Tiers from ``[{"resolution": "1 MP", "amount": 1.5}, …]`` or ``{"1 MP": 1.5, …}``."""
    pairs: list[tuple[Any, Any]] = []
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        for tier in raw:
            if not isinstance(tier, Mapping):
                raise UnreadableCost(f"a resolution tier is not an object ({tier!r})")
            size = next((tier[k] for k in RESOLUTION_KEYS if k in tier), None)
            amount = next((tier[k] for k in AMOUNT_KEYS if k in tier), None)
            pairs.append((size, amount))
    else:
        raise UnreadableCost("its resolution tiers are neither a list nor an object")
    tiers: dict[Decimal, Decimal] = {}
    for size, amount in pairs:
        megapixels = megapixels_from_text(size)
        if megapixels is None or megapixels <= 0:
            raise UnreadableCost(f"resolution {size!r} is not a number of megapixels")
        tiers[megapixels] = _credits(amount, f"the cost at {size}")
    if not tiers:
        raise UnreadableCost("its resolution tiers are empty")
    return sorted(tiers.items())


def parse_cost_rule(raw: Any) -> CostRule:
    """The cost rule of a catalogue entry's ``creditCost``; ``UnreadableCost`` when it cannot be read."""
    if not isinstance(raw, Mapping):
        return fixed_cost(_credits(raw, "the cost"))
    kind = str(raw.get("type") or "").strip().lower()
    tiers_raw = next((raw[key] for key in TIER_KEYS if raw.get(key)), None)
    default_raw = raw.get("default", raw.get("amount"))
    if tiers_raw is None:
        if kind not in FIXED_TYPES:
            raise UnreadableCost(f"cost type {kind!r} is not per image (fixed or by resolution)")
        amount = next((raw[key] for key in AMOUNT_KEYS if key in raw), raw.get("default"))
        return fixed_cost(_credits(amount, "the cost"))
    tiers = tuple(_tiers(tiers_raw))
    default = _credits(default_raw, "the default cost") if default_raw is not None else tiers[-1][1]
    return CostRule(default=default, tiers=tiers)


def requested_megapixels(params: Mapping[str, Any]) -> Decimal | None:
    """How large the asked-for images are, from the request's parameters (None when it does not say)."""
    for name in RESOLUTION_PARAMETERS:
        if (megapixels := megapixels_from_text(params.get(name))) is not None:
            return megapixels
    width, height = params.get("width"), params.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return (Decimal(width) * Decimal(height) / MEGAPIXEL).quantize(Decimal("0.01"))
    return None


def requested_count(params: Mapping[str, Any]) -> int:
    """Images the request asks for (1 when it does not say)."""
    for name in COUNT_PARAMETERS:
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 1


# --- request schemas ---

KINDS = ("text", "choice", "integer", "number", "boolean", "url")


@dataclass(frozen=True)
class Parameter:
    """One parameter the form renders: ``kind`` is one of ``KINDS``."""

    name: str
    kind: str
    required: bool
    default: Any = None
    description: str = ""
    title: str = ""
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class SchemaReading:
    """What the form makes of a schema: its fields (the prompt aside) and the optional ones left out."""

    parameters: tuple[Parameter, ...]
    left_out: tuple[str, ...] = ()  # "image_urls (array)": optional, never sent


def _json_type(spec: Mapping[str, Any]) -> str | None:
    kind = spec.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return kinds[0] if len(kinds) == 1 and isinstance(kinds[0], str) else None
    return kind if isinstance(kind, str) else None


def _bound(spec: Mapping[str, Any], name: str, exclusive: str, step: float) -> float | None:
    value = spec.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    value = spec.get(exclusive)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value + step
    return None


def read_parameter(name: str, spec: Any, *, required: bool) -> Parameter:
    """The field for one property; ``UnsupportedSchema`` says why there can be none."""
    if not isinstance(spec, Mapping):
        raise UnsupportedSchema(f"{name} has no schema object")
    if found := [key for key in UNFOLLOWED if key in spec]:
        raise UnsupportedSchema(f"{name} uses {', '.join(found)}")
    kind = _json_type(spec)
    common = {
        "name": name,
        "required": required,
        "default": spec.get("default"),
        "description": str(spec.get("description") or "")[:500],
        "title": str(spec.get("title") or "")[:100],
    }
    enum = spec.get("enum")
    if enum is not None:
        if not isinstance(enum, list) or not enum:
            raise UnsupportedSchema(f"{name} has an empty enum")
        scalar = all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in enum)
        if not scalar or len({type(v) for v in enum}) != 1:
            raise UnsupportedSchema(f"{name} is an enum of mixed or non-scalar values")
        return Parameter(kind="choice", choices=tuple(enum), **common)
    if kind == "boolean":
        return Parameter(kind="boolean", **common)
    if kind in ("integer", "number"):
        step = 1 if kind == "integer" else 0
        return Parameter(
            kind=kind,
            minimum=_bound(spec, "minimum", "exclusiveMinimum", step),
            maximum=_bound(spec, "maximum", "exclusiveMaximum", -step),
            **common,
        )
    if kind == "string":
        max_length = spec.get("maxLength") if isinstance(spec.get("maxLength"), int) else None
        text_format = spec.get("format")
        if text_format in ("uri", "url", "iri"):
            return Parameter(kind="url", max_length=max_length, **common)
        if text_format not in (None, "", "date", "date-time", "time", "email", "hostname", "uuid"):
            raise UnsupportedSchema(f"{name} is a string in format {text_format!r}")
        return Parameter(kind="text", max_length=max_length, **common)
    raise UnsupportedSchema(f"{name} is {'an ' + kind if kind in ('array', 'object') else kind or 'untyped'}")


def read_schema(schema: Any) -> SchemaReading:
    """The form's reading of a ``requestSchema``; ``UnsupportedSchema`` when it cannot be offered."""
    if not isinstance(schema, Mapping):
        raise UnsupportedSchema("it has no request schema")
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise UnsupportedSchema(f"its schema is not valid JSON Schema ({exc.message})") from None
    if found := [key for key in UNFOLLOWED_TOP if key in schema]:
        raise UnsupportedSchema(f"its schema uses {', '.join(found)}, which the form cannot follow")
    if _json_type(schema) not in (None, "object"):
        raise UnsupportedSchema("its schema does not describe an object")
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        raise UnsupportedSchema("its schema lists no parameters")
    required = set(schema.get("required") or ())
    if _json_type(properties.get("prompt") or {}) != "string":
        raise UnsupportedSchema("it has no text prompt parameter")
    if missing := sorted(required - set(properties)):
        raise UnsupportedSchema(f"it requires parameters it does not describe: {', '.join(missing)}")
    parameters: list[Parameter] = []
    left_out: list[str] = []
    for name, spec in properties.items():
        if name == "prompt":
            continue
        try:
            parameters.append(read_parameter(str(name), spec, required=name in required))
        except UnsupportedSchema as exc:
            if name in required:
                raise UnsupportedSchema(
                    f"the required parameter {exc}, which the form cannot render"
                ) from None
            left_out.append(str(exc))
    return SchemaReading(parameters=tuple(parameters), left_out=tuple(left_out))


def validation_errors(schema: Mapping[str, Any], payload: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """Why ``payload`` does not match ``schema``: (parameter or None, sentence) pairs, empty when it does."""
    validator = validator_for(schema)(schema, format_checker=FormatChecker())
    found: list[tuple[str | None, str]] = []
    for error in sorted(validator.iter_errors(dict(payload)), key=lambda e: [str(p) for p in e.path]):
        name = str(error.path[0]) if error.path else None
        if error.validator == "required" and isinstance(error.validator_value, list):
            missing = [key for key in error.validator_value if key not in payload]
            name = missing[0] if missing else None
            found.append((name, "This parameter is required by the model."))
            continue
        if error.validator == "additionalProperties":
            found.append((None, f"PixelDojo does not accept these parameters: {error.message}"))
            continue
        found.append((name, f"PixelDojo's schema refuses this value: {error.message[:300]}"))
    return found
