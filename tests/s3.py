"""A real S3 API on loopback (moto's threaded server) and the project's storage settings pointed at it."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import runpy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qsl, quote, urlsplit

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


def presigned_url_problem(url: str, *, secret_key: str, now: float) -> str:
    """Why S3 would refuse this presigned GET URL at ``now`` ("" if it would not), checked as the SigV4
    query-string specification says, independently of botocore: the signature over method, path, query and
    host with ``secret_key``, and ``X-Amz-Date`` + ``X-Amz-Expires`` still ahead."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = query.pop("X-Amz-Signature", "")
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if query.get("X-Amz-SignedHeaders") != "host":
        return "signed headers other than host (a browser sends none of them)"
    if not signed_at.timestamp() <= now < signed_at.timestamp() + int(query["X-Amz-Expires"]):
        return "expired (or signed in the future)"
    canonical_query = "&".join(
        f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}" for name, value in sorted(query.items())
    )
    canonical_request = "\n".join(
        ("GET", parts.path, canonical_query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD")
    )
    _access_key, day, region, service, terminator = query["X-Amz-Credential"].split("/")
    scope = f"{day}/{region}/{service}/{terminator}"
    to_sign = "\n".join(
        (
            "AWS4-HMAC-SHA256",
            query["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        )
    )
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return "" if hmac.compare_digest(expected, signature) else "signature does not match"
