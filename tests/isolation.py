"""Every test leaves the world as it found it: checked around each test, and over the whole run.

* Per test (after all its fixtures are torn down): the process environment, Django's settings and the Celery
  app's configuration are what they were before it started. A test that changes one for good fails here, by
  name, instead of breaking some later test in a random order.
* Per run: no file appeared, changed its size or went missing in the checkout (caches and the virtualenv
  aside). Test data lives in ``tmp_path`` and the run's temporary var folder (``tests/pytest_env.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
NOT_WATCHED = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules"}


def _state() -> dict[str, dict[str, Any]]:
    from django.conf import settings

    from pixelgallery.celery import app

    return {
        "environment variable": dict(os.environ),
        "Django setting": dict(vars(settings._wrapped)),
        "Celery setting": {**dict(app.conf.changes), "broker_url in effect": app.conf.broker_url},
    }


def _differences(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    for kind, old in before.items():
        new = after[kind]
        for name in sorted(old.keys() | new.keys()):
            if name not in new:
                found.append(f"{kind} {name} was removed")
            elif name not in old:
                found.append(f"{kind} {name} was added")
            elif old[name] != new[name]:
                found.append(f"{kind} {name} changed")
    return found


SHARED_SCOPES = ("session", "package", "module")
_shared_fixture_changes = 0  # set-ups and tear-downs of fixtures shared by several tests


def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> None:
    global _shared_fixture_changes
    if fixturedef.scope in SHARED_SCOPES:
        _shared_fixture_changes += 1


def pytest_fixture_post_finalizer(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> None:
    global _shared_fixture_changes
    if fixturedef.scope in SHARED_SCOPES:
        _shared_fixture_changes += 1


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    item.stash[_BEFORE] = (_shared_fixture_changes, _state())
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    result = yield  # the test's own fixtures are torn down (and restore what they patched) first
    changes, before = item.stash[_BEFORE]
    # A session or module fixture that started or ended around this test (pytest-django's test environment,
    # a live server) may change the world on purpose for the tests that share it: compare the next test.
    if changes == _shared_fixture_changes:
        leaks = _differences(before, _state())
        if leaks:
            raise AssertionError(f"{item.nodeid} did not leave the world as it found it: {'; '.join(leaks)}")
    return result


_BEFORE = pytest.StashKey[tuple[int, dict[str, dict[str, Any]]]]()


def _checkout_files() -> dict[str, int]:
    files = {}
    for folder, subfolders, names in os.walk(CHECKOUT):
        subfolders[:] = [name for name in subfolders if name not in NOT_WATCHED]
        for name in names:
            path = Path(folder, name)
            files[str(path.relative_to(CHECKOUT))] = path.stat().st_size
    return files


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[_FILES] = _checkout_files()
    # Celery reads its configuration on first use; reading it now keeps that first read out of the first
    # test's before-and-after comparison (a first test that is skipped would otherwise "remove" it all).
    _state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before, after = session.stash.get(_FILES, None), _checkout_files()
    if before is None or before == after:
        return
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "the run left files behind in the checkout", red=True)
        for name in changed[:50]:
            reporter.write_line(f"  {name}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


_FILES = pytest.StashKey[dict[str, int]]()
