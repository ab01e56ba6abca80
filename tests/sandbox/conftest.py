"""A fresh sandbox server per test, for the sandbox's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.server import SandboxServer


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    """A fresh sandbox on an ephemeral loopback port."""
    sandbox = SandboxServer(host="127.0.0.1", port=0).start()
    yield sandbox
    sandbox.stop()
