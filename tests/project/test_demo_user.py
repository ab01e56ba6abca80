"""``manage.py ensure_demo_user`` (run by bin/run): the demo login exists and works, however often it runs."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def ensure(**options) -> str:
    out = StringIO()
    call_command("ensure_demo_user", stdout=out, **options)
    return out.getvalue()


def test_the_demo_user_is_created_then_reset(monkeypatch):
    monkeypatch.setenv("DEMO_USERNAME", "visitor")
    monkeypatch.setenv("DEMO_PASSWORD", "first-password-1")
    first = ensure(url="http://127.0.0.1:8123/")
    assert "created" in first and "http://127.0.0.1:8123/" in first and "first-password-1" in first

    monkeypatch.setenv("DEMO_PASSWORD", "second-password-2")
    assert "reset" in ensure()

    user = get_user_model().objects.get(username="visitor")
    assert user.is_staff and user.is_superuser
    assert user.check_password("second-password-2")
    assert get_user_model().objects.count() == 1


def test_login_only_prints_just_the_login(monkeypatch):
    monkeypatch.setenv("DEMO_USERNAME", "visitor")
    monkeypatch.setenv("DEMO_PASSWORD", "only-this-3")
    assert ensure(login_only=True) == "visitor / only-this-3\n"
    assert get_user_model().objects.get(username="visitor").check_password("only-this-3")
