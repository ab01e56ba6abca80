"""docker-compose.yml parses and hands every service what the settings need."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "beat")


def test_docker_compose_config_parses():
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose (Debian package) is installed by bin/test"
    result = subprocess.run([compose, "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_app_services_get_database_broker_and_pixeldojo_settings():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert {"postgres", "redis", *APP_SERVICES} <= set(services)
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        for variable in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "PIXELDOJO_API_KEY"):
            assert variable in environment, f"{name} lacks {variable}"
