"""docker-compose.yml parses in a clean clone and hands every service what the settings need.

There is no Docker engine here: ``docker-compose config`` (v1, Debian's package) interpolates and validates
the file, and the resolved YAML is checked for health checks, volumes, restart policies, queues and
environment. The variables the settings read are found by scanning ``pixelgallery/*.py`` for the typed
``env_*("NAME", …)`` helpers, so a setting added later fails these tests until compose and ``.env.example``
pass and document it.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

APP_SERVICES = ("web", "worker-api", "worker-downloads", "worker-webhooks", "beat", "flower", "migrate")
ONE_SHOT_SERVICES = {"migrate", "minio-init"}
STATEFUL_SERVICES = {"postgres": "/var/lib/postgresql/data", "redis": "/data", "minio": "/data"}
PROFILES = ("monitoring", "sandbox")
# Read by the settings but deliberately not passed by compose: local development and test knobs.
DEV_ONLY_VARIABLES = {
    "PIXELGALLERY_VAR_DIR": "SQLite/embedded broker/local files folder; containers keep the /app/var default",
    "MEDIA_ROOT": "local image folder; compose stores images in the S3 bucket",
    "REDIS_URL": "alias of CELERY_BROKER_URL for local runs; compose passes CELERY_BROKER_URL",
    "DJANGO_STATIC_ROOT": "build time: the image collects static files into the default folder",
    "PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK": "tests only (image hosts on loopback); check --deploy refuses it",
    "WEBHOOK_HOSTS_LOOPBACK_OK": "tests only (webhook receivers on loopback); check --deploy refuses it",
}
# Built by compose from other variables instead of being passed through from .env.
COMPOSED_VARIABLES = {"DATABASE_URL": ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")}

ENV_CALL = re.compile(r"\benv_(str|bool|int|float|list)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
BOOL_DEFAULT = re.compile(r"\benv_bool\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']\s*(?:,\s*([^)]*?))?\s*\)")
# Defaults of env_bool(...) as production (DEBUG off) evaluates them.
PRODUCTION_DEFAULTS = {"True": True, "False": False, "": False, "DEBUG": False, "not DEBUG": True}
COMPOSE_REFERENCE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}")
TRUE_WORDS = {"1", "true", "yes", "on"}


# --- helpers (also used by test_production_processes.py) --------------------------------------------------


def compose_binary() -> str:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.fail("docker-compose (Debian package) is not installed: `bin/test` installs it with apt.")
    return compose


def clean_env() -> dict[str, str]:
    """The environment of a fresh shell: nothing of this process' settings leaks into interpolation."""
    return {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}


def run_compose(*args: str, env_file: Path, profiles: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    argv = [compose_binary(), "--env-file", str(env_file)]
    for profile in profiles:
        argv += ["--profile", profile]
    return subprocess.run(
        [*argv, *args], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60, check=False
    )


@functools.cache
def resolved_compose() -> dict:
    """``docker-compose config`` with every profile on, as a clean clone (no .env) resolves it."""
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "empty.env"
        empty.write_text("")
        result = run_compose("config", env_file=empty, profiles=PROFILES)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def unescape(value: str) -> str:
    """A resolved compose string as the container sees it (``$$`` is compose's escape for ``$``)."""
    return value.replace("$$", "$")


def worker_argv(service: str) -> list[str]:
    """The celery command line a worker service's ``sh -c`` script ends with (``exec celery …``)."""
    script = unescape(resolved_compose()["services"][service]["command"][-1])
    return shlex.split(script.split("exec ", 1)[1])


def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def settings_sources() -> str:
    return "\n".join(path.read_text() for path in sorted((ROOT / "pixelgallery").glob("*.py")))


def settings_variables() -> set[str]:
    """Every environment variable read by pixelgallery/*.py through env_str/env_bool/env_int/…."""
    return {name for _kind, name in ENV_CALL.findall(settings_sources())}


def app_variables() -> set[str]:
    """The variables each application container must be given."""
    return settings_variables() - set(DEV_ONLY_VARIABLES)


def env_example_names() -> set[str]:
    """Variables documented in .env.example, as ``NAME=value`` or commented ``# NAME=value`` lines."""
    return set(re.findall(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))


def compose_references() -> set[str]:
    """Every ``${NAME…}`` docker-compose.yml interpolates (``$$NAME`` is the container's own shell)."""
    text = re.sub(r"\$\$", "", COMPOSE_FILE.read_text())
    return set(COMPOSE_REFERENCE.findall(text))


# --- tests -----------------------------------------------------------------------------------------------


def test_config_parses_in_a_clean_clone_with_and_without_the_example_env(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    for env_file in (empty, ENV_EXAMPLE):
        for profiles in ((), PROFILES):
            result = run_compose("config", "-q", env_file=env_file, profiles=profiles)
            assert result.returncode == 0, (env_file.name, profiles, result.stderr)
            assert "WARNING" not in result.stderr, result.stderr  # e.g. an unset variable without default


def test_stack_has_the_production_services():
    services = resolved_compose()["services"]
    expected = {
        "postgres",
        "redis",
        "minio",
        "minio-init",
        "migrate",
        "web",
        "worker-api",
        "worker-downloads",
        "worker-webhooks",
    }
    assert expected | {"beat", "flower", "sandbox"} == set(services)
    assert services["flower"]["profiles"] == ["monitoring"]
    assert services["sandbox"]["profiles"] == ["sandbox"]
    assert services["minio-init"]["image"].startswith("minio/mc:RELEASE.")
    assert services["minio"]["image"].startswith("minio/minio:RELEASE.")
    for name in ("web", "worker-api", "worker-downloads", "worker-webhooks", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["minio-init"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "exec gunicorn pixelgallery.wsgi:application" in services["web"]["command"][-1]
    migrate = services["migrate"]["command"][-1]
    assert migrate.index("check --deploy --fail-level ERROR") < migrate.index("migrate --noinput")


def test_minio_init_creates_the_bucket_private_and_the_app_key():
    script = unescape(" ".join(resolved_compose()["services"]["minio-init"]["command"]))
    assert 'mc mb --ignore-existing "local/$AWS_STORAGE_BUCKET_NAME"' in script
    assert 'mc anonymous set none "local/$AWS_STORAGE_BUCKET_NAME"' in script
    assert 'mc admin user add local "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"' in script
    assert script.lstrip().startswith("set -e")


def test_every_long_running_service_has_a_healthcheck_and_restarts():
    services = resolved_compose()["services"]
    for name, service in services.items():
        if name in ONE_SHOT_SERVICES:
            assert service.get("restart", "no") == "no", f"{name} runs once"
            continue
        check = service.get("healthcheck") or {}
        assert not check.get("disable") and check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service["restart"] in ("unless-stopped", "always"), name
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    assert "/healthz" in web_check and "urllib" in web_check  # slim images have no curl
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])
    assert services["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    workers = (("worker-api", "api"), ("worker-downloads", "downloads"), ("worker-webhooks", "webhooks"))
    for name, node in workers:
        check = unescape(" ".join(services[name]["healthcheck"]["test"]))
        assert f'inspect ping -d "{node}@$HOSTNAME"' in check, name
        assert f"{node}@%h" in worker_argv(name), "the ping addresses the worker's own node name"
        assert check.startswith("CMD-SHELL PROMETHEUS_MULTIPROC_DIR= "), "the check adds no metric files"


def test_stateful_services_keep_their_data_in_named_volumes():
    config = resolved_compose()
    declared = set(config["volumes"])
    for name, target in STATEFUL_SERVICES.items():
        mounts = [_mount(m) for m in config["services"][name]["volumes"]]
        sources = [s for s, t in mounts if t == target]
        assert sources, f"{name} mounts nothing on {target}"
        source = sources[0]
        assert source in declared, f"{name} keeps {target} in a named volume, not {source}"


def _mount(mount: str | dict) -> tuple[str, str]:
    """(source, target) of a short ("pgdata:/data:rw") or long volume entry."""
    if isinstance(mount, dict):
        return str(mount.get("source")), str(mount["target"])
    source, target, *_mode = mount.split(":")
    return source, target


def test_workers_consume_exactly_the_queues_tasks_are_routed_to():
    from pixelgallery.celery import app

    def queues(name: str) -> set[str]:
        argv = worker_argv(name)
        return set(argv[argv.index("-Q") + 1].split(","))

    def routed(task: str) -> str:
        return app.amqp.router.route({}, task)["queue"].name

    assert routed("generations.tasks.run_generation") == "pixeldojo"
    assert routed("generations.tasks.persist_image") == "downloads"
    assert routed("generations.tasks.sweep_stale_work") == app.conf.task_default_queue == "celery"
    assert queues("worker-api") == {"pixeldojo"}
    assert queues("worker-downloads") == {"downloads", "celery"}  # the sweeper and unrouted tasks too
    assert routed("webhooks.tasks.deliver_webhook") == "webhooks"
    assert routed("webhooks.tasks.send_due_webhooks") == "webhooks"
    assert queues("worker-webhooks") == {"webhooks"}
    # A worker started without -Q consumes every queue; development (Procfile.dev) runs the same three pools.
    assert set(app.conf.task_queues) == {"celery", "pixeldojo", "downloads", "webhooks"}
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile.dev").read_text().splitlines() if line.strip()
    )
    assert "-Q pixeldojo " in procfile["worker_api"]
    assert "-Q downloads,celery " in procfile["worker_downloads"]
    assert "-Q webhooks " in procfile["worker_webhooks"]


def test_app_services_get_every_variable_the_settings_read():
    needed = app_variables()
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "PIXELDOJO_API_KEY"} <= needed
    raw_services = raw_compose()["services"]  # YAML anchors and merge keys resolved, ${…} not interpolated
    resolved = resolved_compose()["services"]
    for name in APP_SERVICES:
        missing = sorted(needed - set(resolved[name]["environment"]))
        assert not missing, f"{name} is not given {missing} (docker-compose.yml x-app-environment)"
        raw_environment = raw_services[name]["environment"]
        for variable in needed:
            sources = COMPOSED_VARIABLES.get(variable, (variable,))
            value = str(raw_environment[variable])
            assert all("${" + source in value for source in sources), f"{name}: {variable} ignores .env"


def test_boolean_settings_keep_their_default_in_a_clean_clone():
    """An empty value reads as False (env_bool): a flag defaulting to True needs a compose default."""
    environment = resolved_compose()["services"]["web"]["environment"]
    flags = BOOL_DEFAULT.findall(settings_sources())
    assert {"DJANGO_DEBUG", "DJANGO_SECURE"} <= {name for name, _default in flags}
    for name, default in flags:
        if name in DEV_ONLY_VARIABLES:
            continue
        value = str(environment[name] or "").strip().lower()
        assert value, f"{name} is blank in compose: env_bool reads that as off"
        if default.strip() in PRODUCTION_DEFAULTS:
            expected = PRODUCTION_DEFAULTS[default.strip()]
            assert (value in TRUE_WORDS) == expected, (
                f"{name}={value!r} in compose, settings default {default}"
            )
    assert environment["DJANGO_DEBUG"] == "0"
    assert environment["DJANGO_SECURE"] == "1"


def test_env_example_documents_every_variable_with_a_comment():
    documented = env_example_names()
    missing_settings = sorted(settings_variables() - documented)
    assert not missing_settings, f".env.example lacks settings variables {missing_settings}"
    missing_compose = sorted(compose_references() - documented)
    assert not missing_compose, f".env.example lacks compose variables {missing_compose}"
    lines = ENV_EXAMPLE.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            above = number - 1
            while above >= 0 and re.match(r"^[A-Z][A-Z0-9_]*=", lines[above]):
                above -= 1
            assert above >= 0 and lines[above].startswith("#"), f"{line} has no comment above it"


def test_secrets_are_not_set_in_the_example_env():
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
    assert values["DJANGO_SECRET_KEY"] == ""
    assert values["DJANGO_DEBUG"] == "0"
    for name in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY"):
        assert "CHANGE-ME" in values[name], name
    resolved = resolved_compose()["services"]
    assert resolved["web"]["environment"]["DJANGO_SECRET_KEY"] in ("", None)


def test_flower_refuses_to_start_without_basic_auth():
    command = [unescape(part) for part in resolved_compose()["services"]["flower"]["command"]]
    assert command[:2] == ["sh", "-c"] and "exec celery -A pixelgallery flower" in command[2]
    probe = command[2].replace("exec celery", "exec true")  # stop before Flower itself would start
    for value, code in (("", 1), ("admin", 1), (":pw", 1), ("admin:pw", 0)):
        result = subprocess.run(
            ["sh", "-c", probe],
            env={**clean_env(), "FLOWER_BASIC_AUTH": value},
            capture_output=True,
            text=True,
        )
        assert result.returncode == code, (value, result.stderr)


def test_dockerfile_runs_as_non_root_with_healthcheck_and_gunicorn():
    text = DOCKERFILE.read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert re.search(r"^USER pixelgallery$", text, flags=re.MULTILINE)
    assert "pip install -r requirements.txt" in text
    assert re.search(r"^HEALTHCHECK .*/healthz", text, flags=re.MULTILINE | re.DOTALL)
    assert re.search(r'^CMD \["gunicorn", "pixelgallery.wsgi:application"', text, flags=re.MULTILINE)
    requirements = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^gunicorn==\d", requirements, flags=re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "var", ".git", ".env"} <= set(ignored)


def test_static_files_collect_at_build_time_without_database_or_secret(tmp_path):
    """The Dockerfile's collectstatic step, with exactly its environment, in a clean process."""
    step = re.search(
        r"RUN (DJANGO_SECRET_KEY=.*?python manage.py collectstatic --noinput)", DOCKERFILE.read_text(), re.S
    )
    assert step, "Dockerfile collects static files at build time"
    build_env = dict(re.findall(r"([A-Z][A-Z0-9_]*)=(\S+)", step.group(1).replace("\\\n", " ")))
    assert set(build_env) >= {"DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"}
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env={**clean_env(), **build_env, "DJANGO_STATIC_ROOT": str(tmp_path / "static")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "static" / "admin").is_dir()
    assert (tmp_path / "static" / "staticfiles.json").is_file()  # hashed names for DEBUG-off serving
    assert not Path(build_env["DATABASE_URL"].removeprefix("sqlite:///")).exists()  # no database touched


def test_migrate_step_refuses_to_start_the_stack_without_a_real_secret_key_or_a_metrics_token():
    """compose's one-shot migrate runs `check --deploy` first; web and workers wait for it to succeed."""
    services = resolved_compose()["services"]
    check = services["migrate"]["command"][-1].split("&&")[0].split()
    assert check[:2] == ["python", "manage.py"]
    environment = {name: str(value or "") for name, value in services["migrate"]["environment"].items()}

    def run(secret_key: str, metrics_token: str) -> subprocess.CompletedProcess:
        env = {**clean_env(), **environment, "DJANGO_SECRET_KEY": secret_key, "METRICS_TOKEN": metrics_token}
        return subprocess.run(
            [sys.executable, *check[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    refused = run("", secrets.token_urlsafe(32))
    assert refused.returncode != 0 and "pixelgallery.E001" in refused.stderr, refused.stderr
    no_metrics_token = run(secrets.token_urlsafe(64), "")
    assert no_metrics_token.returncode != 0, no_metrics_token.stderr
    assert "pixelgallery.E002" in no_metrics_token.stderr
    accepted = run(secrets.token_urlsafe(64), secrets.token_urlsafe(32))
    assert accepted.returncode == 0, accepted.stderr


def test_workers_serve_their_task_metrics_from_every_pool_process():
    services = resolved_compose()["services"]
    for name in ("worker-api", "worker-downloads", "worker-webhooks"):
        environment = services[name]["environment"]
        assert environment["WORKER_METRICS_PORT"] == "9808", name
        folder = environment["PROMETHEUS_MULTIPROC_DIR"]
        assert folder.startswith("/dev/shm/"), name
        script = unescape(services[name]["command"][-1])
        assert script.index('rm -rf "$PROMETHEUS_MULTIPROC_DIR"') < script.index("exec celery"), name
    assert services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"].startswith("/dev/shm/")
