"""Configuration of the PixelDojo sandbox: API keys, retention, latency and fault injection.

Pure stdlib (no Django) so the server can run in-process inside tests.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_KEY = "sandbox-key"
DEFAULT_RPM = 60
ERROR_STYLES = ("nested", "flat")
IMAGE_STYLES = ("urls", "objects")  # "images": ["https://…"] as the seed shows, or [{"url", "seed", …}]


@dataclass(frozen=True)
class KeyPlan:
    """Plan of one API key: requests per minute and remaining credits (None = unlimited)."""

    rpm: int = DEFAULT_RPM
    quota: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.rpm, bool) or not isinstance(self.rpm, int) or self.rpm < 1:
            raise ValueError(f"rpm must be a positive integer, got {self.rpm!r}")
        if self.quota is not None and (
            isinstance(self.quota, bool) or not isinstance(self.quota, int) or self.quota < 0
        ):
            raise ValueError(f"quota must be a non-negative integer or None, got {self.quota!r}")

    @classmethod
    def coerce(cls, value: KeyPlan | Mapping[str, Any] | int | None) -> KeyPlan:
        """Build a plan from a KeyPlan, a {"rpm", "quota"} mapping, an rpm integer or None (defaults)."""
        if isinstance(value, KeyPlan):
            return value
        if value is None:
            return cls()
        if isinstance(value, Mapping):
            unknown = set(value) - {"rpm", "quota"}
            if unknown:
                raise ValueError(f"unknown key plan field(s): {', '.join(sorted(unknown))}")
            return cls(**value)
        return cls(rpm=value)


@dataclass(frozen=True)
class FaultRates:
    """Probabilities (0..1) of injected faults.

    server_error / rate_limit / slow apply to POST /flux; truncate / corrupt / expired / slow apply to
    image downloads. slow_seconds is the delay of a "slow" fault. html_200 / error_200 answer POST /flux with
    HTTP 200 after the images were made (and the credits used), as seen in the field: an HTML page (a proxy's,
    echoing the request's Authorization header), or ``{"error": {"code": "server_error", …}}``.
    """

    server_error: float = 0.0
    rate_limit: float = 0.0
    html_200: float = 0.0
    error_200: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 2.0
    truncate: float = 0.0
    corrupt: float = 0.0
    expired: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"fault {f.name} must be a number, got {value!r}")
            if f.name == "slow_seconds":
                if value < 0:
                    raise ValueError(f"slow_seconds must be >= 0, got {value!r}")
            elif not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {f.name} must be between 0 and 1, got {value!r}")

    def merged(self, changes: Mapping[str, Any]) -> FaultRates:
        """Return a copy with some rates changed (unknown names raise ValueError)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def parse(cls, text: str) -> FaultRates:
        """Parse "server_error=0.1,truncate=0.05,slow_seconds=3"."""
        changes: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"fault {item!r} must look like name=value")
            try:
                changes[name.strip()] = float(raw)
            except ValueError:
                raise ValueError(f"fault {name.strip()!r} has a non-numeric value {raw!r}") from None
        return cls().merged(changes)


def _default_keys() -> dict[str, KeyPlan]:
    return {DEFAULT_KEY: KeyPlan()}


@dataclass
class SandboxConfig:
    """Behaviour of a sandbox server. Treat instances as immutable; use `updated()` to derive one."""

    keys: dict[str, KeyPlan] = field(default_factory=_default_keys)
    retention_seconds: float = 86400.0
    faults: FaultRates = field(default_factory=FaultRates)
    fault_seed: int | None = None
    error_style: str = "nested"
    image_style: str = "urls"
    latency_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.keys = {str(name): KeyPlan.coerce(plan) for name, plan in dict(self.keys).items()}
        if isinstance(self.faults, Mapping):
            self.faults = FaultRates().merged(self.faults)
        if not isinstance(self.faults, FaultRates):
            raise ValueError(f"faults must be FaultRates or a mapping, got {self.faults!r}")
        if self.error_style not in ERROR_STYLES:
            raise ValueError(
                f"error_style must be one of {', '.join(ERROR_STYLES)}, got {self.error_style!r}"
            )
        if self.image_style not in IMAGE_STYLES:
            raise ValueError(
                f"image_style must be one of {', '.join(IMAGE_STYLES)}, got {self.image_style!r}"
            )
        for name in ("retention_seconds", "latency_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if self.fault_seed is not None and (
            isinstance(self.fault_seed, bool) or not isinstance(self.fault_seed, int)
        ):
            raise ValueError(f"fault_seed must be an integer or None, got {self.fault_seed!r}")

    def updated(self, **changes: Any) -> SandboxConfig:
        """Return a new config with some fields changed.

        `faults` may be a FaultRates (replaces) or a mapping (merged into the current rates); `keys` replaces
        the key mapping (values: KeyPlan, {"rpm", "quota"} mapping or rpm integer).
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        if isinstance(changes.get("faults"), Mapping):
            changes["faults"] = self.faults.merged(changes["faults"])
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable view (used by GET /_sandbox/config)."""
        return {
            "keys": {name: dataclasses.asdict(plan) for name, plan in self.keys.items()},
            "retention_seconds": self.retention_seconds,
            "faults": dataclasses.asdict(self.faults),
            "fault_seed": self.fault_seed,
            "error_style": self.error_style,
            "image_style": self.image_style,
            "latency_seconds": self.latency_seconds,
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        """Read the PIXELDOJO_SANDBOX_* variables; raise ValueError on an invalid value.

        PIXELDOJO_SANDBOX_KEYS      comma list of `key`, `key:rpm` or `key:rpm:quota` (sandbox-key is kept
                                    unless redefined)
        PIXELDOJO_SANDBOX_RPM       default rpm of keys (60)
        PIXELDOJO_SANDBOX_RETENTION_SECONDS, PIXELDOJO_SANDBOX_LATENCY_SECONDS
        PIXELDOJO_SANDBOX_FAULTS    e.g. `server_error=0.1,truncate=0.05,slow_seconds=3`
        PIXELDOJO_SANDBOX_FAULT_SEED, PIXELDOJO_SANDBOX_ERROR_STYLE (nested | flat),
        PIXELDOJO_SANDBOX_IMAGE_STYLE (urls | objects)
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"PIXELDOJO_SANDBOX_{name}", "").strip()
            return value or None

        rpm = _parse_number(int, "PIXELDOJO_SANDBOX_RPM", get("RPM")) if get("RPM") else DEFAULT_RPM
        keys = {DEFAULT_KEY: KeyPlan(rpm=rpm)}
        keys.update(_parse_keys(get("KEYS") or "", rpm))
        kwargs: dict[str, Any] = {"keys": keys}
        for name, field_name, kind in (
            ("RETENTION_SECONDS", "retention_seconds", float),
            ("LATENCY_SECONDS", "latency_seconds", float),
            ("FAULT_SEED", "fault_seed", int),
        ):
            raw = get(name)
            if raw is not None:
                kwargs[field_name] = _parse_number(kind, f"PIXELDOJO_SANDBOX_{name}", raw)
        if get("FAULTS"):
            kwargs["faults"] = FaultRates.parse(get("FAULTS") or "")
        if get("ERROR_STYLE"):
            kwargs["error_style"] = (get("ERROR_STYLE") or "").lower()
        if get("IMAGE_STYLE"):
            kwargs["image_style"] = (get("IMAGE_STYLE") or "").lower()
        return cls(**kwargs)


def _parse_number(kind: type[int] | type[float], name: str, raw: str | None) -> Any:
    try:
        return kind(raw or "")
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _parse_keys(text: str, default_rpm: int) -> dict[str, KeyPlan]:
    keys: dict[str, KeyPlan] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, *rest = (piece.strip() for piece in item.split(":"))
        if not name or len(rest) > 2:
            raise ValueError(f"PIXELDOJO_SANDBOX_KEYS entry {item!r} must be key, key:rpm or key:rpm:quota")
        rpm = _parse_number(int, f"rpm of key {name!r}", rest[0]) if rest and rest[0] else default_rpm
        quota_text = rest[1] if len(rest) == 2 else ""
        quota = (
            None
            if quota_text.lower() in ("", "none")
            else _parse_number(int, f"quota of {name!r}", quota_text)
        )
        keys[name] = KeyPlan(rpm=rpm, quota=quota)
    return keys
