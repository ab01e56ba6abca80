"""Pieces the benchmark scripts in bench/ share: a dedicated PostgreSQL database, percentiles, the CPU other
processes use, query plans and a description of the machine for the report."""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
from pathlib import Path


def add_database_arguments(parser: argparse.ArgumentParser, *, default_database: str) -> None:
    """``--database``, ``--host``, ``--port`` and ``--user`` of the benchmark's own PostgreSQL database."""
    parser.add_argument("--database", default=default_database, help="PostgreSQL database")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--user", default="postgres")


def ensure_database(*, host: str, port: int, user: str, database: str, reseed: bool) -> str:
    """Create ``database`` when missing (``reseed``: drop it and create it afresh); return its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as conn:
        name = sql.Identifier(database)
        if reseed:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
            print(f"created database {database}")
    return f"postgres://{user}@{host}:{port}/{database}"


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


class CpuMeter:
    """CPU time the rest of the machine used, apart from this process and its database backend (/proc)."""

    def __init__(self, backend_pid: int) -> None:
        self.backend_pid = backend_pid

    @staticmethod
    def _machine() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields[:8]), idle

    @staticmethod
    def _process(pid: int | str) -> int:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0
        return int(stat[11]) + int(stat[12])

    def sample(self) -> tuple[int, int, int]:
        """(machine jiffies, idle jiffies, jiffies of this process and its backend)."""
        total, idle = self._machine()
        return total, idle, self._process("self") + self._process(self.backend_pid)

    def other_cores(self, before: tuple[int, int, int], after: tuple[int, int, int]) -> float:
        """Cores other processes kept busy between two samples."""
        total = after[0] - before[0]
        busy = total - (after[1] - before[1])
        ours = after[2] - before[2]
        wall = total / (os.cpu_count() or 1)
        return max(0.0, (busy - ours) / wall) if wall else 0.0


def explain(sql: str, params: list | None = None) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of one query, as text."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def slowest_query_plan(name: str, milliseconds: float, sql: str) -> str:
    """A markdown section: a scenario's slowest query and its plan."""
    heading = f"\n### {name}: slowest query ({milliseconds:.1f} ms)"
    return f"{heading}\n\n```sql\n{sql}\n```\n\n```\n{explain(sql)}\n```"


def environment(**extra: str) -> dict[str, str]:
    """Date, machine, software and PostgreSQL settings for the report, then ``extra``, then the load."""
    import django
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
        shown = []
        for name in ("shared_buffers", "work_mem", "jit", "max_parallel_workers_per_gather"):
            cursor.execute(f"SHOW {name}")
            shown.append(f"{name}={cursor.fetchone()[0]}")
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = found.group(1).strip() if found else ""
    cpu = model or platform.processor() or platform.machine()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}",
        "software": f"Python {platform.python_version()}, Django {django.get_version()}, PostgreSQL {server}",
        "settings": ", ".join(shown),
        **extra,
        "load": " / ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def log(message: str) -> None:
    """A timestamped progress line, printed at once."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_average() -> str:
    """The machine's 1, 5 and 15-minute load averages, as /proc/loadavg gives them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def commit(project_root: Path) -> str:
    """The checkout's short commit, with a note when tracked files have uncommitted changes."""
    import subprocess

    def git(*args: str) -> str:
        argv = ["git", *args]  # git from PATH, fixed arguments from this function
        run = subprocess.run(argv, cwd=project_root, capture_output=True, text=True, check=False)  # noqa: S603
        return run.stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")
