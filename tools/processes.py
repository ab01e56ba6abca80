"""Start and stop real processes for tests and benchmarks: Celery worker and beat, the PixelDojo sandbox,
a private redis-server, plus free ports, readiness waits, log capture and throw-away PostgreSQL databases.

Every process runs in its own session (``start_new_session=True``), so its whole process group (a prefork
worker and its children) can be signalled at once:

* ``kill()``  sends SIGKILL to the group — a crash: nothing is flushed, acknowledged or cleaned up;
* ``stop()``  sends SIGTERM to the main process, waits, then SIGKILLs whatever is left of the group.

Output (stdout and stderr) goes to a log file, appended across restarts with a header per start. Use the
processes as context managers, or call ``kill()`` in a ``finally``: nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCALHOST = "127.0.0.1"


class ProcessError(RuntimeError):
    """A process could not be started, died early, or did not become ready in time."""


# --- small utilities ------------------------------------------------------------------------------------


def executable(name: str) -> str:
    """Path of a console script of the running virtualenv (``celery``), else of the project's ``.venv``."""
    for folder in (Path(sys.executable).parent, PROJECT_ROOT / ".venv" / "bin"):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ProcessError(f"{name} not found (looked next to {sys.executable}, in .venv/bin and on PATH)")
    return found


def python() -> str:
    """The interpreter running this code (the project's virtualenv in tests and benches)."""
    return sys.executable


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it; a tiny race with other starters remains)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RedisDatabase:
    """One database of a Redis server, claimed empty for one user (a test run, a benchmark)."""

    CLAIM_KEY = "pixelgallery:claimed-by"

    def __init__(self, server_url: str, db: int) -> None:
        import redis

        self.db = db
        self.url = _redis_url_with_db(server_url, db)
        self.client = redis.Redis.from_url(self.url, socket_timeout=5)

    def release(self) -> None:
        """Empty the database again (it was empty when claimed) and close the connection."""
        self.client.flushdb()
        self.client.close()


def claim_redis_database(server_url: str) -> RedisDatabase:
    """An empty database of the Redis server at ``server_url``, marked as taken so other runs pick others.

    The one place that picks Redis database numbers: from the highest down, leaving 0 (everyone's default)
    alone; a database holding any key is someone else's and is skipped. ``release()`` empties it again.
    """
    import redis

    count = int(redis.Redis.from_url(server_url, socket_timeout=5).config_get("databases")["databases"])
    owner = f"{socket.gethostname()}:{os.getpid()}"
    for db in range(count - 1, 0, -1):
        database = RedisDatabase(server_url, db)
        if database.client.set(RedisDatabase.CLAIM_KEY, owner, nx=True):
            if database.client.dbsize() == 1:  # only our mark: nobody else uses it
                return database
            database.client.delete(RedisDatabase.CLAIM_KEY)
        database.client.close()
    raise ProcessError(f"every database of the Redis server at {server_url} holds keys; none is free")


def _redis_url_with_db(server_url: str, db: int) -> str:
    """``server_url`` (``redis://host:port`` with or without a path) pointing at database ``db``."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


def port_open(port: int, host: str = LOCALHOST) -> bool:
    """Something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); ``ProcessError`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise ProcessError(f"{what} not met within {timeout:g} s")
        time.sleep(interval)


def child_env(
    overrides: Mapping[str, str | None] | None = None, *, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) with ``overrides`` applied; a ``None`` value unsets."""
    env = dict(os.environ if base is None else base)
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    env.setdefault("DJANGO_SETTINGS_MODULE", "pixelgallery.settings")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def max_in_window(times: Sequence[float], seconds: float = 60.0) -> int:
    """The largest number of ``times`` inside any half-open window ``[t, t + seconds)``."""
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


# --- processes ------------------------------------------------------------------------------------------


class ManagedProcess:
    """One external process (and its process group), its log file and how to tell that it is ready."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path = PROJECT_ROOT,
        ready_pattern: str | None = None,
        ready_port: int | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.env = dict(env)
        self.log_path = Path(log_path)
        self.cwd = cwd
        self.ready_pattern = ready_pattern
        self.ready_port = ready_port
        self.ready_timeout = ready_timeout
        self.popen: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._pgid: int | None = None
        self._log_offset = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} pid={self.pid}>"

    # lifecycle

    def start(self, *, wait: bool = True) -> ManagedProcess:
        """Start the process (in a new session) and, unless ``wait=False``, wait until it is ready."""
        if self.alive():
            raise ProcessError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            header = f"\n===== {time.strftime('%H:%M:%S')} start #{self.starts} of {self.name}: "
            log.write((header + " ".join(self.argv) + "\n").encode())
            log.flush()
            self.popen = subprocess.Popen(  # noqa: S603 - fixed argv built by this module
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._pgid = self.popen.pid  # a new session's leader is its process group's leader
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.kill()
                raise
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the ready pattern appears in this start's log and/or the ready port accepts."""
        timeout = self.ready_timeout if timeout is None else timeout
        if self.ready_pattern:
            self.wait_for_log(self.ready_pattern, timeout=timeout)
        if self.ready_port:
            wait_until(
                lambda: self._check_alive() and port_open(self.ready_port),
                timeout=timeout,
                what=f"{self.name} listening on port {self.ready_port}",
            )

    def kill(self) -> None:
        """SIGKILL the whole process group (a crash), then reap the main process."""
        self._signal_group(signal.SIGKILL)
        self._reap(5.0)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the main process (a graceful shutdown), wait, then SIGKILL what is left of the group."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        self.kill()

    def restart(self, *, hard: bool = False, wait: bool = True) -> ManagedProcess:
        """Stop (or kill when ``hard``) and start again with the same command line and environment."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start(wait=wait)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._pgid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pgid, sig)

    def _reap(self, timeout: float) -> None:
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        # Children in the group (prefork pool processes) die with the SIGKILL; give the kernel a moment.
        deadline = time.monotonic() + timeout
        while self._pgid is not None and time.monotonic() < deadline and self._group_has_live_members():
            time.sleep(0.05)

    def _group_has_live_members(self) -> bool:
        """True while a non-zombie process of the group exists (zombies wait for a reaper, not for us)."""
        proc = Path("/proc")
        if not proc.is_dir():
            return False
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == self._pgid and fields[0] != "Z":
                return True
        return False

    # state

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def _check_alive(self) -> bool:
        if not self.alive():
            code = self.popen.returncode if self.popen is not None else None
            raise ProcessError(f"{self.name} exited (code {code}); log {self.log_path}:\n{self.log_tail()}")
        return True

    # logs

    def log_text(self, *, this_start: bool = False) -> str:
        """The captured output (of every start, or only of the latest one)."""
        try:
            with open(self.log_path, "rb") as log:
                if this_start:
                    log.seek(self._log_offset)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for_log(self, pattern: str, *, timeout: float = 30.0) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears in the output of the latest start."""
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            match = regex.search(self.log_text(this_start=True))
            if match is None:
                self._check_alive()
            return match

        try:
            return wait_until(found, timeout=timeout, interval=0.1, what=f"{self.name} log /{pattern}/")
        except ProcessError as exc:
            raise ProcessError(f"{exc}; log {self.log_path}:\n{self.log_tail()}") from None

    # context manager

    def __enter__(self) -> ManagedProcess:
        if not self.alive():
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


class SandboxProcess(ManagedProcess):
    """``manage.py pixeldojo_sandbox`` in its own process, with its HTTP control endpoints."""

    def __init__(self, *, port: int, env: Mapping[str, str], log_path: Path, host: str = LOCALHOST) -> None:
        super().__init__(
            "sandbox",
            [python(), "manage.py", "pixeldojo_sandbox", "--host", host, "--port", str(port)],
            env=env,
            log_path=log_path,
            ready_pattern=r"PixelDojo sandbox listening on",
            ready_port=port,
        )
        self.host, self.port = host, port

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api/v1"

    def _control(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        import requests

        response = requests.request(method, f"{self.root_url}/_sandbox/{path}", json=payload, timeout=10)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        """flux_requests, flux_by_status, image_requests, images_generated, request_times, credits_used."""
        return self._control("GET", "stats")

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._control("POST", "config", changes)

    def reset(self) -> dict[str, Any]:
        return self._control("POST", "reset")


class RedisServer(ManagedProcess):
    """A private, non-persistent redis-server: a restart loses every key (queued messages included)."""

    def __init__(self, *, port: int, data_dir: Path, log_path: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            f"redis:{port}",
            [
                executable("redis-server"),
                "--port",
                str(port),
                "--bind",
                LOCALHOST,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(data_dir),
                "--daemonize",
                "no",
            ],
            env=child_env(),
            log_path=log_path,
            ready_port=port,
        )
        self.port = port

    def url(self, db: int = 0) -> str:
        return f"redis://{LOCALHOST}:{self.port}/{db}"

    def wait_ready(self, timeout: float | None = None) -> None:
        super().wait_ready(timeout)
        wait_until(self.ping, timeout=self.ready_timeout, what=f"{self.name} answering PING")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(host=LOCALHOST, port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False


def celery_worker(
    *,
    name: str,
    env: Mapping[str, str],
    log_path: Path,
    concurrency: int = 2,
    loglevel: str = "INFO",
    extra_args: Sequence[str] = ("--without-mingle", "--without-gossip", "--without-heartbeat"),
) -> ManagedProcess:
    """A prefork Celery worker of the project (``-n name@%h``); ready once it logs ``name@host ready.``"""
    argv = [
        executable("celery"),
        "-A",
        "pixelgallery",
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        "-n",
        f"{name}@%h",
        *extra_args,
    ]
    return ManagedProcess(
        f"worker {name}",
        argv,
        env=env,
        log_path=log_path,
        ready_pattern=rf"{re.escape(name)}@\S+ ready\.",
        ready_timeout=60.0,
    )


def celery_beat(*, env: Mapping[str, str], log_path: Path, schedule_path: Path) -> ManagedProcess:
    """Celery beat with its schedule file at ``schedule_path``; ready once it logs ``beat: Starting...``."""
    argv = [
        executable("celery"),
        "-A",
        "pixelgallery",
        "beat",
        "--loglevel=INFO",
        "--schedule",
        str(schedule_path),
    ]
    return ManagedProcess(
        "beat", argv, env=env, log_path=log_path, ready_pattern=r"beat: Starting", ready_timeout=60.0
    )


def manage(args: Sequence[str], *, env: Mapping[str, str], timeout: float = 300.0) -> str:
    """Run ``manage.py <args>`` to completion; return its output (``ProcessError`` with it on failure)."""
    result = subprocess.run(  # noqa: S603 - fixed argv
        [python(), "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise ProcessError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# --- databases ------------------------------------------------------------------------------------------


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """A DATABASE_URL (dj-database-url syntax) for a Django ``DATABASES`` entry (PostgreSQL or SQLite)."""
    engine = str(settings_dict["ENGINE"])
    name = str(settings_dict["NAME"])
    if engine.endswith("sqlite3"):
        return f"sqlite:///{Path(name).resolve()}"
    if not engine.endswith(("postgresql", "postgis")):
        raise ValueError(f"no DATABASE_URL scheme for {engine}")
    user = quote(str(settings_dict.get("USER") or ""), safe="")
    password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
    userinfo = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = str(settings_dict.get("HOST") or "")
    port = str(settings_dict.get("PORT") or "")
    location = f"{host}:{port}" if port else host
    return f"postgres://{userinfo}{location}/{quote(name, safe='')}"


@contextlib.contextmanager
def postgres_database(
    name: str, *, host: str = LOCALHOST, port: int = 5432, user: str = "postgres", keep: bool = False
) -> Iterator[str]:
    """Create a fresh PostgreSQL database (dropping a leftover of that name); yield its DATABASE_URL."""
    import psycopg
    from psycopg import sql

    def admin(statement: sql.Composable) -> None:
        with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as conn:
            conn.execute(statement)

    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    admin(drop)
    admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgres://{quote(user, safe='')}@{host}:{port}/{quote(name, safe='')}"
    finally:
        if not keep:
            admin(drop)
