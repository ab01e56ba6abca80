"""Production hardening: deploy checks, HTTPS settings, CSP, hashed static files and login throttling."""

from __future__ import annotations

import json
import os
import re
import runpy
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from axes.helpers import get_client_ip_address
from axes.models import AccessAttempt
from django.test import RequestFactory, override_settings
from django.urls import reverse

from pixelgallery.checks import image_hosts_loopback_check, metrics_token_check, secret_key_check
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILE = ROOT / "pixelgallery" / "settings.py"
PRODUCTION = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "example.com",
    "METRICS_TOKEN": secrets.token_urlsafe(32),
}


def clean_env(**env: str) -> dict[str, str]:
    """This process's environment without Django, AWS or logging settings, plus ``env``."""
    prefixes = ("DJANGO_", "AWS_", "CSP_", "LOG_", "AXES_", "METRICS_", "TRUSTED_PROXY_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(prefixes)}, **env}


def settings_with(**env: str) -> dict:
    """The settings module's names as ``pixelgallery/settings.py`` computes them from ``env``."""
    with mock.patch.dict(os.environ, clean_env(**env), clear=True):
        return runpy.run_path(str(SETTINGS_FILE), run_name="pixelgallery_settings_probe")


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


# --- Settings and deploy checks ------------------------------------------------------------------------


def test_check_deploy_reports_nothing_for_a_production_environment():
    result = manage("check", "--deploy", "--fail-level", "DEBUG", env=clean_env(**PRODUCTION))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_on_the_development_secret_key():
    env = clean_env(**{**PRODUCTION, "DJANGO_SECRET_KEY": ""})
    result = manage("check", "--deploy", env=env)
    assert result.returncode != 0
    assert "pixelgallery.E001" in result.stderr


def test_check_deploy_fails_without_a_metrics_token():
    """Else /metrics would refuse every scraper: compose's migrate step stops the deployment instead."""
    env = clean_env(**{**PRODUCTION, "METRICS_TOKEN": ""})
    result = manage("check", "--deploy", "--fail-level", "ERROR", env=env)
    assert result.returncode != 0
    assert "pixelgallery.E002" in result.stderr and "METRICS_TOKEN" in result.stderr


def test_check_deploy_refuses_loopback_image_hosts():
    """The test setting that lets an image host resolve to loopback never reaches production."""
    env = clean_env(**{**PRODUCTION, "PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK": "localhost"})
    result = manage("check", "--deploy", "--fail-level", "ERROR", env=env)
    assert result.returncode != 0
    assert "pixelgallery.E003" in result.stderr and "PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK" in result.stderr


@pytest.mark.parametrize(
    ("hosts", "debug", "failing"),
    [(["localhost"], False, True), ([], False, False), (["localhost"], True, False)],
)
def test_image_hosts_loopback_check(hosts, debug, failing):
    with override_settings(PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK=hosts, DEBUG=debug):
        errors = image_hosts_loopback_check()
    assert [error.id for error in errors] == (["pixelgallery.E003"] if failing else [])


@pytest.mark.parametrize(
    ("token", "debug", "failing"),
    [("", False, True), ("scrape-token", False, False), ("", True, False)],
)
def test_metrics_token_check(token, debug, failing):
    with override_settings(METRICS_TOKEN=token, DEBUG=debug):
        errors = metrics_token_check()
    assert [error.id for error in errors] == (["pixelgallery.E002"] if failing else [])


@pytest.mark.parametrize(
    ("key", "debug", "failing"),
    [
        ("insecure-dev-key-set-DJANGO_SECRET_KEY-in-production", False, True),
        ("django-insecure-" + "x1y2z3" * 10, False, True),
        ("short-but-random-Zq8", False, True),
        ("a" * 60, False, True),  # long, not random
        (secrets.token_urlsafe(64), False, False),
        ("insecure-dev-key-set-DJANGO_SECRET_KEY-in-production", True, False),  # development
    ],
)
def test_secret_key_check(key, debug, failing):
    with override_settings(SECRET_KEY=key, DEBUG=debug):
        errors = secret_key_check()
    assert [error.id for error in errors] == (["pixelgallery.E001"] if failing else [])


def test_https_hardening_is_on_by_default_without_debug():
    values = settings_with(**PRODUCTION)
    assert values["SECURE_SSL_REDIRECT"] and values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert values["SECURE_HSTS_PRELOAD"] is False and values["SILENCED_SYSTEM_CHECKS"] == ["security.W021"]
    assert values["SECURE_PROXY_SSL_HEADER"] is None  # trusting a header is a choice made for a proxy
    assert values["X_FRAME_OPTIONS"] == "DENY" and values["SECURE_CONTENT_TYPE_NOSNIFF"]
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"
    assert values["LOG_FORMAT"] == "json"


def test_https_settings_follow_their_environment_variables():
    proxied = settings_with(
        **PRODUCTION,
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        DJANGO_HSTS_SECONDS="3600",
        DJANGO_HSTS_PRELOAD="1",
    )
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxied["SECURE_HSTS_SECONDS"] == 3600
    assert proxied["SECURE_HSTS_PRELOAD"] and proxied["SILENCED_SYSTEM_CHECKS"] == []
    for env in ({**PRODUCTION, "DJANGO_SECURE": "0"}, {"DJANGO_DEBUG": "1"}):
        plain = settings_with(**env)
        assert not plain["SECURE_SSL_REDIRECT"] and not plain["SESSION_COOKIE_SECURE"]
        assert plain["SECURE_HSTS_SECONDS"] == 0


# --- Content Security Policy ---------------------------------------------------------------------------


def test_pages_carry_a_csp_without_inline_scripts_and_the_security_headers(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    policy = dict(
        (*directive.partition(" ")[::2],) for directive in response["Content-Security-Policy"].split("; ")
    )
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'" and policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'self'"
    assert policy["base-uri"] == "'self'" and "data:" in policy["img-src"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_images_may_come_from_the_bucket_the_image_views_redirect_to():
    minio = settings_with(AWS_STORAGE_BUCKET_NAME="images", AWS_S3_ENDPOINT_URL="https://s3.example.net:9000")
    sources = minio["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["img-src"]
    assert "https://s3.example.net:9000" in sources and "https://*.s3.example.net:9000" in sources
    aws = settings_with(AWS_STORAGE_BUCKET_NAME="images")
    assert "https://*.amazonaws.com" in aws["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["img-src"]
    local = settings_with()
    assert local["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["img-src"] == ["'self'", "data:"]


INLINE_CODE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:", flags=re.IGNORECASE
)


def test_templates_have_no_inline_script_style_or_event_handler():
    """Everything the CSP would block: inline <script>/<style>, style= attributes, on*= handlers."""
    templates = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")]
    assert templates
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in templates
        if ".venv" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if INLINE_CODE.search(line)
    ]
    assert found == []


# --- Static files ----------------------------------------------------------------------------------------


def test_collectstatic_writes_content_hashed_compressed_files_that_templates_use(tmp_path):
    env = clean_env(**PRODUCTION, DJANGO_STATIC_ROOT=str(tmp_path), DJANGO_SECURE="0")
    result = manage("collectstatic", "--noinput", "--verbosity", "0", env=env)
    assert result.returncode == 0, result.stderr

    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    for source in ("css/app.css", "js/live-status.js", "js/library.js"):
        hashed = manifest[source]
        assert re.fullmatch(rf"{re.escape(source.rsplit('.', 1)[0])}\.[0-9a-f]{{12}}\.\w+", hashed), hashed
        assert (tmp_path / hashed).is_file() and (tmp_path / f"{hashed}.gz").is_file()

    shown = manage(
        "shell", "-c", "from django.templatetags.static import static; print(static('css/app.css'))", env=env
    )
    assert shown.stdout.strip().splitlines()[-1] == f"/static/{manifest['css/app.css']}", shown.stderr


# --- Login throttling ------------------------------------------------------------------------------------


def log_in(client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.django_db
def test_five_wrong_passwords_lock_that_login_out_and_nobody_else(client, alice, bob):
    for _ in range(4):
        response = log_in(client, "alice", "wrong password")
        assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert log_in(client, "alice", "wrong password").status_code == 429  # the fifth: locked from now on

    refused = log_in(client, "alice", PASSWORD)
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    page = refused.content.decode()
    assert "Too many failed logins" in page and "15 minutes" in page

    assert log_in(client, "bob", PASSWORD).status_code == 302  # another user, same address
    client.logout()
    assert log_in(client, "alice", PASSWORD, address="198.51.100.9").status_code == 302  # another address


@pytest.mark.django_db
def test_a_successful_login_resets_the_failure_count(client, alice):
    for _ in range(4):
        log_in(client, "alice", "wrong password")
    assert log_in(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        log_in(client, "alice", "wrong password")
    assert log_in(client, "alice", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_logins_made_in_code_are_not_throttled(client, alice):
    """The test client's login() has no HTTP request: the throttle leaves it to the password check."""
    assert client.login(username="alice", password=PASSWORD)
    assert not client.login(username="alice", password="wrong password")


def log_in_through_proxy(client, username: str, password: str, forwarded_for: str):
    """A login as the TLS proxy hands it on: its own address as REMOTE_ADDR, the client's appended to XFF."""
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


CLIENT_ADDRESS_SETTINGS = ("AXES_IPWARE_PROXY_COUNT", "AXES_IPWARE_META_PRECEDENCE_ORDER", "IPWARE_STRICT")


@pytest.mark.django_db
def test_behind_a_trusted_proxy_a_lockout_holds_one_client_address_and_not_everyone_behind_the_proxy(
    client, alice
):
    proxied = settings_with(TRUSTED_PROXY_COUNT="1")
    with override_settings(**{name: proxied[name] for name in CLIENT_ADDRESS_SETTINGS}):
        for _ in range(5):
            log_in_through_proxy(client, "alice", "wrong password", forwarded_for="203.0.113.7")
        assert log_in_through_proxy(client, "alice", PASSWORD, forwarded_for="203.0.113.7").status_code == 429
        # What the attacker writes into X-Forwarded-For stays on the left of what the proxy appends.
        spoofed = log_in_through_proxy(client, "alice", PASSWORD, forwarded_for="198.51.100.9, 203.0.113.7")
        assert spoofed.status_code == 429
        # alice, from her own address, through the same proxy: not locked out by someone else's guesses.
        own_address = log_in_through_proxy(client, "alice", PASSWORD, forwarded_for="198.51.100.9")
        assert own_address.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}


@pytest.mark.django_db
def test_without_a_trusted_proxy_a_forwarded_for_header_is_ignored(client, alice):
    assert settings_with()["AXES_IPWARE_META_PRECEDENCE_ORDER"] == ("REMOTE_ADDR",)
    for number in range(5):  # a new made-up X-Forwarded-For with every guess
        client.post(
            reverse("login"),
            {"username": "alice", "password": "wrong password"},
            REMOTE_ADDR="203.0.113.7",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{number}",
        )
    assert log_in(client, "alice", PASSWORD, address="203.0.113.7").status_code == 429
    assert log_in(client, "alice", PASSWORD, address="198.51.100.9").status_code == 302


@pytest.mark.django_db
def test_a_lockout_ends_after_the_cool_off(client, alice):
    for _ in range(5):
        log_in(client, "alice", "wrong password")
    assert log_in(client, "alice", PASSWORD).status_code == 429
    # The cool-off passes (the attempts' recorded time moves back beyond it).
    past = AccessAttempt.objects.get().attempt_time - timedelta(minutes=15, seconds=1)
    AccessAttempt.objects.update(attempt_time=past)
    assert log_in(client, "alice", PASSWORD).status_code == 302


def test_a_lockout_is_never_permanent_and_the_proxy_count_is_checked():
    assert settings_with()["AXES_COOLOFF_TIME"] == timedelta(minutes=15)
    assert settings_with(AXES_COOLOFF_MINUTES="2")["AXES_COOLOFF_TIME"] == timedelta(minutes=2)
    with pytest.raises(ValueError, match="AXES_COOLOFF_MINUTES must be more than 0"):
        settings_with(AXES_COOLOFF_MINUTES="0")
    with pytest.raises(ValueError, match="TRUSTED_PROXY_COUNT must be 0 or more"):
        settings_with(TRUSTED_PROXY_COUNT="-1")
    two = settings_with(TRUSTED_PROXY_COUNT="2")
    assert two["AXES_IPWARE_PROXY_COUNT"] == 1  # "client, first proxy" in the header the second one sends
    assert settings_with()["AXES_IPWARE_PROXY_COUNT"] is None


@pytest.mark.parametrize(
    ("count", "forwarded_for"),
    [
        ("1", "203.0.113.7"),
        ("1", "198.51.100.9, 203.0.113.7"),  # the client's own entry on the left is ignored
        ("2", "203.0.113.7, 10.0.0.1"),  # the outer proxy saw the client, the inner one the outer proxy
        ("2", "198.51.100.9, 203.0.113.7, 10.0.0.1"),
        ("2", "192.0.2.1, 198.51.100.9, 203.0.113.7, 10.0.0.1"),
    ],
)
def test_the_client_address_is_the_entry_trusted_proxy_count_places_from_the_right(count, forwarded_for):
    """What axes keys a lockout on, for one and for two proxies (the last one is REMOTE_ADDR)."""
    proxied = settings_with(TRUSTED_PROXY_COUNT=count)
    with override_settings(**{name: proxied[name] for name in CLIENT_ADDRESS_SETTINGS}):
        request = RequestFactory().post(
            reverse("login"), REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for
        )
        assert get_client_ip_address(request) == "203.0.113.7"
