"""The production processes, started the way docker-compose.yml starts them, serve a user end to end.

No Docker here: each compose service's own command line and environment (``docker-compose config``) run as a
subprocess on this machine, with only addresses swapped for local ones: the one-shot ``migrate`` step
(``check --deploy`` + migrations), gunicorn, the two Celery worker pools on their queues, beat, Flower, the
PixelDojo sandbox and an S3 server (moto) on loopback, against a fresh PostgreSQL database and Redis. A user
logs in through the form, submits a generation, watches its status and downloads the originals through the
signed S3 redirect; the compose health checks are run against the live processes too.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image as PillowImage

from tests.project.test_compose import resolved_compose, unescape
from tests.s3 import ACCESS_KEY, REGION, SECRET_KEY, moto_s3_server, s3_client
from tools.processes import (
    PROJECT_ROOT,
    ManagedProcess,
    SandboxProcess,
    child_env,
    claim_redis_database,
    executable,
    free_port,
    manage,
    postgres_database,
)

pytestmark = pytest.mark.e2e

REDIS_SERVER = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")  # the stack claims a database
USERNAME = "e2e-admin"
PASSWORD = secrets.token_urlsafe(16)
METRICS_TOKEN = secrets.token_urlsafe(24)  # check --deploy wants one; /metrics answers only with it
BUCKET = "pixelgallery-e2e"
OUTPUTS = 2
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Stack:
    web_url: str
    flower_url: str
    flower_auth: tuple[str, str]
    s3_endpoint: str
    database_url: str
    schedule_path: Path
    worker_metrics_urls: dict[str, str]
    env: dict[str, dict[str, str]]
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def sql(self, query: str, *params: object) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as connection:
            return connection.execute(query, params).fetchall()


def _postgres_server() -> dict[str, object]:
    """Host, port and user of the PostgreSQL the suite uses (DATABASE_URL), else the local default."""
    url = urlsplit(os.environ.get("DATABASE_URL", ""))
    if url.scheme.startswith("postgres"):
        name = url.path.lstrip("/") or "pixelgallery"
        return {
            "host": url.hostname,
            "port": url.port or 5432,
            "user": url.username or "postgres",
            "name": name,
        }
    return {"host": "127.0.0.1", "port": 5432, "user": "postgres", "name": "pixelgallery"}


def _require_servers(server: dict[str, object]) -> None:
    import psycopg
    import redis

    try:
        psycopg.connect(
            host=server["host"],
            port=server["port"],
            user=server["user"],
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"needs a PostgreSQL server (CI provides one): {exc}")
    try:
        redis.Redis.from_url(REDIS_SERVER, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs a Redis server (CI provides one): {exc}")


def compose_env(service: str, overrides: dict[str, str]) -> dict[str, str]:
    """What compose hands ``service`` (a clean clone's .env), with local addresses, on a fresh shell's env."""
    environment = resolved_compose()["services"][service]["environment"]
    values = {name: unescape(str(value)) if value is not None else "" for name, value in environment.items()}
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return child_env({**values, **overrides}, base=base)


def compose_shell(service: str, replacements: dict[str, str]) -> str:
    """The ``sh -c`` script of ``service``'s command, with container paths and ports replaced."""
    command = resolved_compose()["services"][service]["command"]
    assert command[:2] == ["sh", "-c"], command
    script = unescape(command[2])
    for old, new in replacements.items():
        assert old in script, (service, old, script)
        script = script.replace(old, new)
    return script


def compose_argv(service: str, replacements: dict[str, str]) -> list[str]:
    """``service``'s command as an argv, each argument with container paths and ports replaced."""
    argv = [unescape(str(arg)) for arg in resolved_compose()["services"][service]["command"]]
    for old, new in replacements.items():
        assert any(old in arg for arg in argv), (service, old, argv)
        argv = [arg.replace(old, new) if arg == old or arg.startswith(old) else arg for arg in argv]
    return argv


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    server = _postgres_server()
    _require_servers(server)
    tmp = tmp_path_factory.mktemp("production")
    logs = tmp / "logs"
    rate_limit_name = f"e2e-{uuid.uuid4().hex}"
    web_port, flower_port, sandbox_port = free_port(), free_port(), free_port()
    api_metrics_port, downloads_metrics_port = free_port(), free_port()
    flower_auth = ("ops", secrets.token_urlsafe(12))

    with contextlib.ExitStack() as cleanup:
        database_url = cleanup.enter_context(
            postgres_database(
                f"{server['name']}_e2e",
                host=str(server["host"]),
                port=int(server["port"]),
                user=str(server["user"]),
            )
        )
        redis_database = claim_redis_database(REDIS_SERVER)
        cleanup.callback(redis_database.release)  # broker messages and the rate-limit window go with it
        s3_endpoint = cleanup.enter_context(moto_s3_server())
        s3_client(s3_endpoint).create_bucket(Bucket=BUCKET)
        sandbox = SandboxProcess(port=sandbox_port, env=child_env(), log_path=logs / "sandbox.log")
        cleanup.callback(sandbox.kill)
        sandbox.start(wait=False)

        local = {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE": "0",  # plain HTTP here; production terminates TLS in front of gunicorn
            "METRICS_TOKEN": METRICS_TOKEN,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": redis_database.url,
            "PIXELDOJO_RATE_LIMIT_NAME": rate_limit_name,
            "PIXELDOJO_API_KEY": "",
            "PIXELDOJO_BASE_URL": sandbox.base_url,
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": s3_endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_REGION_NAME": REGION,
            "PIXELGALLERY_VAR_DIR": str(tmp / "var"),
            "DJANGO_STATIC_ROOT": str(tmp / "static"),  # the image's build step, here
        }
        env = {
            "migrate": compose_env("migrate", local),
            "web": compose_env(
                "web", {**local, "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics")}
            ),
            "worker-api": compose_env(
                "worker-api",
                {
                    **local,
                    "WORKER_METRICS_PORT": str(api_metrics_port),
                    "PROMETHEUS_MULTIPROC_DIR": str(tmp / "m-api"),
                },
            ),
            "worker-downloads": compose_env(
                "worker-downloads",
                {
                    **local,
                    "WORKER_METRICS_PORT": str(downloads_metrics_port),
                    "PROMETHEUS_MULTIPROC_DIR": str(tmp / "m-dl"),
                },
            ),
            "beat": compose_env("beat", local),
            "flower": compose_env("flower", {**local, "FLOWER_BASIC_AUTH": ":".join(flower_auth)}),
        }
        _reset_rate_limiter(redis_database.url, rate_limit_name)

        # The image's build steps (/app/var, static files), then compose's migrate (check --deploy + migrate).
        (tmp / "var").mkdir()
        manage(["collectstatic", "--noinput", "-v0"], env=env["web"])
        migrate = compose_shell("migrate", {"python manage.py": f"{shlex.quote(sys.executable)} manage.py"})
        result = subprocess.run(
            ["sh", "-c", migrate],
            cwd=PROJECT_ROOT,
            env=env["migrate"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"migrate step failed:\n{result.stdout}\n{result.stderr}"

        schedule_path = tmp / "var" / "celerybeat-schedule"
        stack = Stack(
            web_url=f"http://127.0.0.1:{web_port}",
            flower_url=f"http://127.0.0.1:{flower_port}",
            flower_auth=flower_auth,
            s3_endpoint=s3_endpoint,
            database_url=database_url,
            schedule_path=schedule_path,
            worker_metrics_urls={
                "worker-api": f"http://127.0.0.1:{api_metrics_port}/metrics",
                "worker-downloads": f"http://127.0.0.1:{downloads_metrics_port}/metrics",
            },
            env=env,
        )
        celery = executable("celery")
        processes = {
            "web": ManagedProcess(
                "web",
                [
                    "sh",
                    "-c",
                    compose_shell(
                        "web",
                        {
                            "exec gunicorn": f"exec {shlex.quote(executable('gunicorn'))}",
                            "--bind=0.0.0.0:8000": f"--bind=127.0.0.1:{web_port} --no-control-socket",
                        },
                    ),
                ],
                env=env["web"],
                log_path=logs / "web.log",
                ready_port=web_port,
            ),
            "worker-api": ManagedProcess(
                "worker-api",
                ["sh", "-c", compose_shell("worker-api", {"exec celery": f"exec {shlex.quote(celery)}"})],
                env=env["worker-api"],
                log_path=logs / "worker-api.log",
                ready_pattern=r"api@\S+ ready\.",
                ready_timeout=60,
            ),
            "worker-downloads": ManagedProcess(
                "worker-downloads",
                [
                    "sh",
                    "-c",
                    compose_shell("worker-downloads", {"exec celery": f"exec {shlex.quote(celery)}"}),
                ],
                env=env["worker-downloads"],
                log_path=logs / "worker-downloads.log",
                ready_pattern=r"downloads@\S+ ready\.",
                ready_timeout=60,
            ),
            "beat": ManagedProcess(
                "beat",
                compose_argv(
                    "beat",
                    {
                        "celery": celery,
                        "--schedule=/app/var/celerybeat-schedule": f"--schedule={schedule_path}",
                    },
                ),
                env=env["beat"],
                log_path=logs / "beat.log",
                ready_pattern=r"beat: Starting",
            ),
            "flower": ManagedProcess(
                "flower",
                [
                    "sh",
                    "-c",
                    compose_shell(
                        "flower",
                        {
                            "exec celery": f"exec {shlex.quote(celery)}",
                            "--port=5555": f"--port={flower_port} --address=127.0.0.1",
                        },
                    ),
                ],
                env=env["flower"],
                log_path=logs / "flower.log",
                ready_port=flower_port,
            ),
        }
        for process in processes.values():
            cleanup.callback(process.kill)
            process.start(wait=False)
        stack.processes = {"sandbox": sandbox, **processes}
        manage(
            ["createsuperuser", "--noinput", "--username", USERNAME, "--email", "e2e@example.com"],
            env={**env["web"], "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        )
        try:
            for process in stack.processes.values():
                process.wait_ready()
        except Exception:
            for process in stack.processes.values():
                print(f"--- {process.name}\n{process.log_tail(30)}")
            raise
        yield stack
        for process in stack.processes.values():
            print(f"--- {process.name}\n{process.log_tail(30)}")  # shown when a test failed


def _reset_rate_limiter(redis_url: str, name: str) -> None:
    """A new window starts empty (unknown history otherwise counts as full, see generations/ratelimit.py)."""
    import redis

    from generations.ratelimit import RedisRateLimiter, Window

    window = Window(limit=10, seconds=61)
    RedisRateLimiter(redis.Redis.from_url(redis_url), name=name, window=window).reset()


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


def _log_in(stack: Stack) -> requests.Session:
    session = requests.Session()
    login_url = f"{stack.web_url}/accounts/login/"
    form = session.get(login_url, timeout=10)
    assert form.status_code == 200
    response = session.post(
        login_url,
        data={
            "csrfmiddlewaretoken": _csrf_token(form.text),
            "username": USERNAME,
            "password": PASSWORD,
            "next": "/",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    assert "sessionid" in session.cookies
    return session


def _submit(stack: Stack, session: requests.Session, prompt: str) -> str:
    form = session.get(f"{stack.web_url}/generate/", timeout=10)
    assert form.status_code == 200
    response = session.post(
        f"{stack.web_url}/generate/",
        data={
            "csrfmiddlewaretoken": _csrf_token(form.text),
            "prompt": prompt,
            "model": "flux-pro",
            "aspect_ratio": "1:1",
            "num_outputs": str(OUTPUTS),
            "megapixels": "0.25",
        },
        timeout=10,
    )
    assert response.status_code == 200 and response.url.rstrip("/") == stack.web_url, response.url
    codes = re.findall(r'data-code="([0-9a-f-]{36})"', response.text)
    assert codes, "the gallery shows the queued generation"
    return codes[0]  # newest first


def _wait_until_done(stack: Stack, session: requests.Session, code: str, timeout: float = 40.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = session.get(f"{stack.web_url}/g/{code}/status/", timeout=10).json()
        if not status["active"]:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"generation still {status['status']} after {timeout} s: {status}")
        time.sleep(0.25)


def test_user_logs_in_generates_and_downloads_originals_from_the_bucket(stack):
    session = _log_in(stack)
    code = _submit(stack, session, f"a lighthouse at dawn, end to end {uuid.uuid4().hex[:6]}")

    status = _wait_until_done(stack, session, code)

    assert status["status"] == "done", status
    assert [image["status"] for image in status["images"]] == ["stored"] * OUTPUTS
    stored = {
        str(row[0]): row[1:]
        for row in stack.sql(
            "SELECT i.code, i.sha256, i.size_bytes, i.width, i.height FROM generations_image i "
            "JOIN generations_generation g ON g.id = i.generation_id WHERE g.code = %s",
            uuid.UUID(code),
        )
    }
    assert len(stored) == OUTPUTS
    for image in status["images"]:
        sha256, size, width, height = stored[image["code"]]
        redirect = session.get(
            f"{stack.web_url}/i/{image['code']}/original/", allow_redirects=False, timeout=10
        )
        assert redirect.status_code == 302
        location = redirect.headers["Location"]
        assert location.startswith(f"{stack.s3_endpoint}/{BUCKET}/") and "X-Amz-Signature=" in location
        original = requests.get(location, timeout=10)  # the browser follows it; no session needed
        assert original.status_code == 200 and original.headers["Content-Type"] == "image/png"
        body = original.content
        assert body.startswith(PNG_MAGIC) and len(body) == size
        assert hashlib.sha256(body).hexdigest() == sha256
        with PillowImage.open(io.BytesIO(body)) as picture:
            assert picture.size == (width, height)
        unsigned = requests.get(location.split("?")[0], timeout=10)
        assert unsigned.status_code == 403  # private object: only the signed URL works

    # Each task ran in the pool of its queue.
    api_log = stack.processes["worker-api"].log_text()
    downloads_log = stack.processes["worker-downloads"].log_text()
    assert (
        "generations.tasks.run_generation[" in api_log and "generations.tasks.persist_image[" not in api_log
    )
    assert "generations.tasks.persist_image[" in downloads_log
    assert "generations.tasks.run_generation[" not in downloads_log
    # ... and each pool reports its task run times on its own metrics port (pool processes added up).
    api_metrics = requests.get(stack.worker_metrics_urls["worker-api"], timeout=10).text
    downloads_metrics = requests.get(stack.worker_metrics_urls["worker-downloads"], timeout=10).text
    assert _task_count(api_metrics, "generations.tasks.run_generation") >= 1
    assert _task_count(downloads_metrics, "generations.tasks.persist_image") >= OUTPUTS
    assert _task_count(api_metrics, "generations.tasks.persist_image") == 0


def _task_count(exposition: str, task: str) -> float:
    """Successful runs of ``task`` in a Prometheus exposition of pixelgallery_celery_task_duration_seconds."""
    pattern = (
        r'^pixelgallery_celery_task_duration_seconds_count\{(?=[^}]*task="' + re.escape(task) + r'")'
        r'(?=[^}]*state="SUCCESS")[^}]*\} ([0-9.e+]+)$'
    )
    return sum(float(value) for value in re.findall(pattern, exposition, flags=re.MULTILINE))


def test_probes_metrics_and_static_files_answer(stack):
    healthz = requests.get(f"{stack.web_url}/healthz", timeout=10)
    assert healthz.status_code == 200 and healthz.json()["status"] == "ok"
    readyz = requests.get(f"{stack.web_url}/readyz", timeout=10)
    assert readyz.status_code == 200, readyz.text
    assert {name for name, result in readyz.json().items() if result["ok"]} == {
        "database",
        "broker",
        "storage",
    }
    metrics = requests.get(
        f"{stack.web_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    assert metrics.status_code == 200 and "pixelgallery_http_requests" in metrics.text

    login = requests.get(f"{stack.web_url}/accounts/login/", timeout=10)
    stylesheets = re.findall(r'href="(/static/[^"]+\.css)"', login.text)
    assert stylesheets, "the page links its stylesheet"
    for path in stylesheets:
        assert re.search(r"\.[0-9a-f]{12}\.css$", path), f"{path}: collected under a content-hashed name"
        css = requests.get(f"{stack.web_url}{path}", timeout=10)
        assert css.status_code == 200 and "max-age=315360000" in css.headers.get("Cache-Control", "")


def test_flower_asks_for_basic_auth(stack):
    assert requests.get(f"{stack.flower_url}/", timeout=10).status_code == 401
    assert requests.get(f"{stack.flower_url}/", auth=stack.flower_auth, timeout=10).status_code == 200


def test_compose_healthchecks_pass_against_the_running_processes(stack):
    services = resolved_compose()["services"]
    web_port = urlsplit(stack.web_url).port
    flower_port = urlsplit(stack.flower_url).port

    def argv(service: str, replacements: dict[str, str]) -> list[str]:
        test = [unescape(part) for part in services[service]["healthcheck"]["test"]]
        for old, new in replacements.items():
            assert any(old in part for part in test), (service, old, test)
            test = [part.replace(old, new) for part in test]
        kind, *command = test
        if kind == "CMD-SHELL":
            return ["sh", "-c", command[0]]
        return [sys.executable if command[0] == "python" else command[0], *command[1:]]

    celery = shlex.quote(executable("celery"))
    checks = {
        "web": argv("web", {"127.0.0.1:8000": f"127.0.0.1:{web_port}"}),
        "worker-api": argv("worker-api", {"celery -A": f"{celery} -A"}),
        "worker-downloads": argv("worker-downloads", {"celery -A": f"{celery} -A"}),
        "beat": argv("beat", {"/app/var/celerybeat-schedule": str(stack.schedule_path)}),
        "flower": argv("flower", {"127.0.0.1:5555": f"127.0.0.1:{flower_port}"}),
    }
    hostname = socket.gethostname()  # what %h in the worker's node name and $HOSTNAME in a container are
    running = {
        name: subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**stack.env[name], "HOSTNAME": hostname},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, command in checks.items()
    }
    for name, check in running.items():
        output, _ = check.communicate(timeout=60)
        assert check.returncode == 0, f"{name} healthcheck failed: {checks[name]}\n{output}"
    for name, process in stack.processes.items():
        assert process.alive(), f"{name} exited:\n{process.log_tail()}"
