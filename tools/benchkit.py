"""Pieces the benchmark scripts in bench/ share: a dedicated PostgreSQL database and percentiles."""

from __future__ import annotations

import argparse


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
