"""A real S3 API on loopback (moto's threaded server) and the project's storage settings pointed at it."""

from __future__ import annotations

import logging
import os
import runpy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import boto3
from moto.server import ThreadedMotoServer

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
SETTINGS_FILE = Path(__file__).resolve().parent.parent / "pixelgallery" / "settings.py"
PUBLIC_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """Run moto's S3-compatible HTTP server on an ephemeral loopback port; yield its endpoint URL."""
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        werkzeug.setLevel(level)


def s3_client(endpoint: str):
    """A plain boto3 client for checking what really is in the bucket."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


def storage_from_env(env: dict[str, str]) -> dict:
    """``STORAGES["default"]`` exactly as ``pixelgallery/settings.py`` builds it from these variables."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    with mock.patch.dict(os.environ, {**clean, **env}, clear=True):
        namespace = runpy.run_path(str(SETTINGS_FILE), run_name="pixelgallery_settings_probe")
    return namespace["STORAGES"]["default"]


def bucket_keys(client, bucket: str) -> list[str]:
    """Every object key in ``bucket``, sorted."""
    listing = client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def public_grants(client, bucket: str, key: str) -> list[dict]:
    """Grants on ``key`` that let anyone but the owner read it."""
    grants = client.get_object_acl(Bucket=bucket, Key=key)["Grants"]
    return [grant for grant in grants if grant["Grantee"].get("URI") in PUBLIC_GROUPS]
