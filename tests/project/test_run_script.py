"""``bash bin/run`` as a newcomer runs it: a short terminal ending with the URL and the demo login, the
processes' output in ``var/log/run.log``, and Ctrl-C stopping every process it started."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path

import requests

from tools.processes import PROJECT_ROOT, ProcessError, child_env, free_port, port_open, wait_until

READY_TIMEOUT = 90.0


def processes_with(marker: str) -> list[int]:
    """Ids of live processes whose environment holds ``marker`` (everything bin/run starts inherits it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def test_bin_run_prints_a_short_start_ending_with_url_and_login_and_ctrl_c_stops_all(tmp_path):
    var_dir = tmp_path / "var"
    web_port, sandbox_port = free_port(), free_port()
    password = secrets.token_urlsafe(12)
    env = child_env(
        {
            "PIXELGALLERY_VAR_DIR": str(var_dir),
            "PIXELGALLERY_SKIP_SETUP": "1",  # the test run's .venv is set up already
            "WEB_PORT": str(web_port),
            "SANDBOX_PORT": str(sandbox_port),
            "DEMO_USERNAME": "newcomer",
            "DEMO_PASSWORD": password,
            # bin/run's own defaults, not the test run's: embedded broker, SQLite in var_dir, the sandbox.
            "CELERY_BROKER_URL": None,
            "DATABASE_URL": None,
            "MEDIA_ROOT": None,
            "PIXELDOJO_API_KEY": None,
            "PIXELDOJO_BASE_URL": None,
            "DJANGO_DEBUG": None,
        }
    )
    run = subprocess.Popen(
        ["bash", "bin/run"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(line.rstrip("\n") for line in run.stdout), daemon=True
    )
    reader.start()
    url = f"http://127.0.0.1:{web_port}/"
    try:
        wait_until(
            lambda: any("log in as" in line for line in lines) or run.poll() is not None,
            timeout=READY_TIMEOUT,
            what="bin/run printing the login",
        )
        time.sleep(1)  # anything printed after the login line would show up now
        printed = list(lines)
        assert run.poll() is None, "\n".join(printed)
        login = f"log in as newcomer / {password} (also an admin at {url}admin/)"
        assert printed[-1] == f"PixelGallery is running at {url} — {login}", "\n".join(printed)
        assert len(printed) < 10, "\n".join(printed)
        log = var_dir / "log" / "run.log"
        assert any(str(log) in line for line in printed)  # says where the processes' output went
        assert requests.get(f"{url}healthz", timeout=5).status_code == 200  # up when it says so
        log_text = log.read_text()
        assert "runserver" in log_text or "Starting development server" in log_text
        assert "celery" in log_text.lower() and "Applying" not in log_text  # migrations ran with -v 0
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's foreground process group
        try:
            run.wait(timeout=60)
        finally:
            reader.join(timeout=5)
            with contextlib.suppress(ProcessError):  # honcho gives them a few seconds, then kills them
                wait_until(lambda: not processes_with(str(var_dir)), timeout=20, what="every process ending")
            leftovers = processes_with(str(var_dir))
            for pid in leftovers:  # never leave them running, even when the assertions below fail
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    assert run.returncode == 130
    assert leftovers == [], f"still running after Ctrl-C: {leftovers}"
    assert not port_open(web_port) and not port_open(sandbox_port)
