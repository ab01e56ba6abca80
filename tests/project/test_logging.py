"""Structured logs: JSON lines, a request id that follows the work into the worker, no secret ever logged."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid

import pytest
import requests
from django.urls import reverse

from generations.models import Generation
from generations.services import calling
from pixelgallery.logging import (
    REDACTED,
    ContextFilter,
    JsonFormatter,
    RedactingFilter,
    redact,
    request_id_var,
)
from sandbox.config import KeyPlan
from tests.conftest import wait_for
from tests.generations.factories import make_generation, make_stored_image
from tests.s3 import ACCESS_KEY, REGION, SECRET_KEY, moto_s3_server, s3_client, storage_from_env

FAKE_KEY = "zz-secret-key-123"
SIGNED = (
    "https://bucket.s3.amazonaws.com/originals/a.png?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z"
    "&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=0badc0ffee0badc0ffee0badc0ffee00"
)


def capture_everything(caplog) -> None:
    """Every logger at DEBUG (urllib3, requests, celery, kombu, botocore, Django, the app, the sandbox)."""
    caplog.set_level(logging.DEBUG)
    names = {"urllib3", "requests", "celery", "kombu", "botocore", "boto3", "s3transfer", "django", "sandbox"}
    for name in names | set(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


def json_lines(records) -> list[dict]:
    """The records as the production handler writes them (filters, then the JSON formatter)."""
    formatter, filters = JsonFormatter(), (ContextFilter(), RedactingFilter())
    lines = []
    for record in records:
        for log_filter in filters:
            log_filter.filter(record)
        lines.append(formatter.format(record))
    return [json.loads(line) for line in lines]


def test_a_record_is_one_json_line_with_time_level_logger_message_request_id_and_extras():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.project.json")
    logger.addHandler(handler)
    logger.propagate = False
    token = request_id_var.set("req-json-1")
    try:
        logger.warning("generation %s failed", "abc", extra={"generation_id": 42, "attempt": 3})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("with a traceback")
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
        logger.propagate = True
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["logger"] == "tests.project.json"
    assert first["message"] == "generation abc failed"
    assert (first["request_id"], first["generation_id"], first["attempt"]) == ("req-json-1", 42, 3)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["time"])
    assert "ValueError: boom" in second["exception"]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"calling with {FAKE_KEY}", FAKE_KEY),
        ("headers {'Authorization': 'Bearer abc.def-ghi'}", "abc.def-ghi"),
        ("Authorization: Bearer tok_123456", "tok_123456"),
        ("{'Authorization': b'AWS4-HMAC-SHA256 Credential=AK/x, Signature=beefbeef'}", "beefbeef"),
        (f"redirect to {SIGNED} done", "0badc0ffee0badc0ffee0badc0ffee00"),
        (f"redirect to {SIGNED} done", "AKIAEXAMPLE"),
        ("https://cdn.example/x.png?Expires=1&Signature=Zm9vYmFy~&Key-Pair-Id=K1", "Zm9vYmFy"),
        ('"GET /b/k?X-Amz-Signature=abc123def&X-Amz-Date=1 HTTP/1.1" 200', "abc123def"),
        ("PixelDojo said: api_key=hunter2hunter2 is not valid", "hunter2hunter2"),
        ('{"error": "forbidden", "access_token": "tok.abc.def"}', "tok.abc.def"),
        ("password: correct-horse", "correct-horse"),
    ],
)
def test_secrets_authorization_values_and_signed_query_strings_are_redacted(settings, text, secret):
    settings.PIXELDOJO_API_KEY = FAKE_KEY
    safe = redact(text)
    assert secret not in safe and REDACTED in safe


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Authorization: Bearer tok_123456", "Authorization: [REDACTED]"),  # not "Authorization: B[REDACTED]"
        ("{'Authorization': b'AWS4-HMAC-SHA256 Credential=AK/x'}", "{'Authorization': b'[REDACTED]'}"),
    ],
)
def test_an_authorization_value_is_replaced_whole(text, shown):
    assert redact(text) == shown


def test_redaction_leaves_ordinary_text_alone(settings):
    settings.PIXELDOJO_API_KEY = FAKE_KEY
    text = "image 3f2a stored (1024x768, 52311 bytes) from https://example.com/a.png?size=large"
    assert redact(text) == text


def test_every_record_is_redacted_whatever_handler_receives_it(settings, caplog):
    """The record factory redacts at creation: pytest's handler (like Sentry's) never sees the secret."""
    settings.PIXELDOJO_API_KEY = FAKE_KEY
    caplog.set_level(logging.DEBUG, logger="tests.project.redact")
    logger = logging.getLogger("tests.project.redact")
    logger.info("key %s, url %s", FAKE_KEY, SIGNED, extra={"url": SIGNED})
    try:
        raise RuntimeError(f"rejected {FAKE_KEY}")
    except RuntimeError:
        logger.exception("call failed")
    (info, error) = caplog.records
    assert FAKE_KEY not in info.getMessage() and "X-Amz-Signature=0bad" not in info.getMessage()
    # Extras are set on a record after it is created: the production handler's filters redact them.
    assert "0badc0ffee" not in json_lines([info])[0]["url"]
    assert FAKE_KEY not in error.exc_text and FAKE_KEY not in caplog.text
    line = json_lines([logging.makeLogRecord({"msg": f"made elsewhere with {FAKE_KEY}", "levelno": 20})])[0]
    assert FAKE_KEY not in line["message"]


def test_a_request_id_is_taken_from_a_sane_header_or_made_and_echoed(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="edge-7f3a.42:1")["X-Request-ID"] == "edge-7f3a.42:1"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\n<script>")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz")["X-Request-ID"] != client.get("/healthz")["X-Request-ID"]


@pytest.mark.django_db(transaction=True)
def test_a_whole_generation_logs_no_key_and_the_tasks_carry_the_request_id(
    celery_worker, sandbox, alice, client, settings, caplog, monkeypatch
):
    sandbox.configure(keys={FAKE_KEY: KeyPlan(rpm=10_000)})
    settings.PIXELDOJO_API_KEY = FAKE_KEY
    chatty = logging.getLogger("tests.project.chatty")
    make_client = calling.client_from_settings

    def careless_client():
        """A client whose every response is logged with its request's headers (the Authorization one too)."""
        api = make_client()
        api.session.hooks["response"].append(
            lambda response, *args, **kwargs: chatty.debug(
                "sent %s %s with headers %s",
                response.request.method,
                response.url,
                dict(response.request.headers),
            )
        )
        return api

    monkeypatch.setattr(calling, "client_from_settings", careless_client)
    capture_everything(caplog)
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    client.force_login(alice)

    response = client.post(
        reverse("generate"),
        {"prompt": "a lighthouse at dawn", "model": "flux-pro", "aspect_ratio": "1:1", "num_outputs": "2"},
        HTTP_X_REQUEST_ID=request_id,
    )
    assert response.status_code == 302 and response["X-Request-ID"] == request_id
    generation = Generation.objects.get()

    def done():
        """the generation is done"""
        generation.refresh_from_db()
        return generation.status == Generation.Status.DONE

    wait_for(done, timeout=30)

    records = list(caplog.records)
    assert any(r.name == "tests.project.chatty" and REDACTED in r.getMessage() for r in records)
    lines = json_lines(records)
    everything = caplog.text + "\n".join(json.dumps(line) for line in lines)
    assert FAKE_KEY not in everything
    assert "X-Amz-Signature=" not in everything.replace(f"X-Amz-Signature={REDACTED}", "")

    in_tasks = [line for line in lines if line.get("task")]
    traced = {line["task"] for line in in_tasks if line["request_id"] == request_id}
    assert {"generations.tasks.run_generation", "generations.tasks.persist_image"} <= traced, in_tasks
    answered = [line for line in in_tasks if "answered by PixelDojo" in line["message"]]
    assert answered and answered[0]["generation_id"] == generation.id
    assert answered[0]["request_id"] == request_id
    web = [
        line
        for line in lines
        if line["logger"] == "pixelgallery.request" and line.get("path") == "/generate/"
    ]
    assert web and web[0]["request_id"] == request_id and web[0]["status"] == 302


@pytest.mark.django_db
def test_signed_url_redirects_and_s3_traffic_log_no_signature(alice, client, settings, media_storage, caplog):
    with moto_s3_server() as endpoint:
        bucket = f"pixelgallery-{uuid.uuid4().hex[:12]}"
        s3_client(endpoint).create_bucket(Bucket=bucket)
        settings.STORAGES = {
            **settings.STORAGES,
            "default": storage_from_env(
                {
                    "AWS_STORAGE_BUCKET_NAME": bucket,
                    "AWS_S3_ENDPOINT_URL": endpoint,
                    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                    "AWS_S3_REGION_NAME": REGION,
                    "AWS_S3_ADDRESSING_STYLE": "path",
                }
            ),
        }
        capture_everything(caplog)
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage

        image = make_stored_image(make_generation(alice, status=Generation.Status.DONE))
        image.file.name = default_storage.save(f"originals/{image.code}.png", ContentFile(b"\x89PNG bytes"))
        image.content_type = "image/png"
        image.save()
        client.force_login(alice)

        response = client.get(reverse("image_original", args=[image.code]))
        assert response.status_code == 302 and "X-Amz-Signature=" in response["Location"]
        logging.getLogger("generations.views").info("redirected to %s", response["Location"])
        assert requests.get(response["Location"], timeout=10).content == b"\x89PNG bytes"  # urllib3 logs it

    signature = re.search(r"X-Amz-Signature=([0-9a-f]+)", response["Location"])[1]
    everything = caplog.text + json.dumps(json_lines(caplog.records))
    assert any("X-Amz-Signature" in r.getMessage() or "?[REDACTED]" in r.getMessage() for r in caplog.records)
    assert signature not in everything
    assert not re.search(r"Signature=(?!\[REDACTED\])[0-9a-f]{16,}", everything)
