"""Calls to the sandbox over real HTTP, shared by the sandbox's tests."""

from __future__ import annotations

from typing import Any

import requests

from sandbox.server import SandboxServer

KEY = "sandbox-key"
BODY = {"prompt": "A lighthouse at dusk, oil painting", "model": "flux-pro", "aspect_ratio": "1:1", "seed": 7}


def flux(server: SandboxServer, body: Any = None, key: str | None = KEY, **changes: Any) -> requests.Response:
    """POST /flux with BODY (plus ``changes``) or ``body``, as ``key``."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    payload = {**BODY, **changes} if body is None else body
    return requests.post(f"{server.base_url}/flux", json=payload, headers=headers, timeout=10)


def error_code(response: requests.Response) -> str:
    """The error code in either error style."""
    error = response.json()["error"]
    return error["code"] if isinstance(error, dict) else error
