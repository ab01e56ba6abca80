"""The PixelDojo client against the sandbox over HTTP: success and every documented error code."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from generations.pixeldojo import (
    GenerationRequest,
    InvalidApiKey,
    InvalidRequest,
    ModelNotFound,
    NetworkError,
    PixelDojoClient,
    QuotaExceeded,
    RateLimited,
    ServerError,
    UnexpectedResponse,
    parse_result,
    provider_text,
)
from sandbox.config import FaultRates, KeyPlan, SandboxConfig
from tools.processes import free_port

REQUEST = GenerationRequest(prompt="a lighthouse at dawn", model="flux-pro", num_outputs=2, seed=7)


def client_for(server, key: str = "sandbox-key", read_timeout: float = 10.0) -> PixelDojoClient:
    return PixelDojoClient(
        base_url=server.base_url, api_key=key, connect_timeout=2.0, read_timeout=read_timeout
    )


def test_generate_returns_typed_result(sandbox):
    result = client_for(sandbox).generate(REQUEST)
    assert result.id.startswith("gen_")
    assert result.model == "flux-pro" and result.prompt == "a lighthouse at dawn"
    assert len(result.images) == 2 and all(url.startswith(sandbox.root_url) for url in result.images)
    assert result.created.tzinfo is not None


def test_images_sent_as_objects_are_read_with_what_they_say(sandbox):
    sandbox.configure(image_style="objects")
    result = client_for(sandbox).generate(REQUEST)
    assert len(result.images) == 2 and all(url.startswith(sandbox.root_url) for url in result.images)
    assert [detail["seed"] for detail in result.image_details] == [7, 7]
    assert all(detail["width"] > 0 and detail["height"] > 0 for detail in result.image_details)


@pytest.mark.parametrize(
    "images",
    [[{"seed": 1}], [{"url": ""}], [""], [None], [7], "https://x/1.png", {"url": "https://x/1.png"}],
    ids=["object-without-url", "empty-url", "empty-string", "null", "number", "a-string", "an-object"],
)
def test_images_in_any_other_shape_are_an_unexpected_answer(images):
    body = {"id": "gen_1", "created": 1_764_000_000, "images": images, "model": "flux-pro", "prompt": "p"}
    with pytest.raises(UnexpectedResponse):
        parse_result(body)


def test_unknown_fields_of_an_image_object_are_kept():
    body = {
        "id": "gen_1",
        "created": 1_764_000_000,
        "images": ["https://x/1.png", {"url": "https://x/2.png", "nsfw": False}],
        "model": "flux-pro",
        "prompt": "p",
    }
    result = parse_result(body)
    assert result.images == ("https://x/1.png", "https://x/2.png")
    assert result.image_details == ({}, {"nsfw": False})


def test_an_html_page_with_200_is_final_and_kept_for_operators_without_the_key(sandbox):
    sandbox.configure(faults=FaultRates(html_200=1.0))  # the page echoes "Authorization: Bearer sandbox-key"
    with pytest.raises(UnexpectedResponse) as caught:
        client_for(sandbox).generate(REQUEST)
    error = caught.value
    assert error.answered and not error.retryable
    assert "may have charged" in str(error)
    assert "<html>" in error.raw_answer and "[REDACTED]" in error.raw_answer
    assert "sandbox-key" not in error.raw_answer


def test_an_error_inside_a_200_is_that_error_and_final(sandbox):
    sandbox.configure(faults=FaultRates(error_200=1.0))
    with pytest.raises(ServerError) as caught:
        client_for(sandbox).generate(REQUEST)
    assert caught.value.answered and not caught.value.retryable  # a 500 would be retried; this was a 200
    assert '"server_error"' in caught.value.raw_answer


def test_a_readable_answer_keeps_its_raw_body(sandbox):
    result = client_for(sandbox).generate(REQUEST)
    assert result.id in result.raw_answer and result.images[0] in result.raw_answer


def test_only_set_parameters_are_sent():
    assert REQUEST.to_payload() == {
        "prompt": "a lighthouse at dawn",
        "model": "flux-pro",
        "num_outputs": 2,
        "seed": 7,
    }


@pytest.mark.parametrize("style", ["nested", "flat"])
def test_invalid_api_key(sandbox, style):
    sandbox.configure(error_style=style)
    with pytest.raises(InvalidApiKey) as caught:
        client_for(sandbox, key="wrong-key").generate(REQUEST)
    assert caught.value.status == 401
    assert "API key" in str(caught.value)
    assert "wrong-key" not in str(caught.value)


@pytest.mark.parametrize("style", ["nested", "flat"])
def test_invalid_request_names_the_problem(sandbox, style):
    sandbox.configure(error_style=style)
    bad = GenerationRequest(prompt="x", model="flux-pro", num_outputs=9)
    with pytest.raises(InvalidRequest) as caught:
        client_for(sandbox).generate(bad)
    assert caught.value.code == "invalid_request"
    assert "num_outputs" in str(caught.value)


def test_model_not_found(sandbox):
    with pytest.raises(ModelNotFound) as caught:
        client_for(sandbox).generate(GenerationRequest(prompt="x", model="flux-9000"))
    assert "does not know this model" in str(caught.value)


def test_quota_exceeded(sandbox):
    sandbox.configure(keys={"sandbox-key": KeyPlan(rpm=1000, quota=1)})
    with pytest.raises(QuotaExceeded) as caught:
        client_for(sandbox).generate(REQUEST)  # 2 images, 1 credit left
    assert "run out of credits" in str(caught.value)
    assert not caught.value.retryable


def test_server_error_is_retryable(sandbox):
    sandbox.configure(faults=FaultRates(server_error=1.0))
    with pytest.raises(ServerError) as caught:
        client_for(sandbox).generate(REQUEST)
    assert caught.value.retryable and caught.value.status == 500


def test_rate_limit_carries_retry_after(sandbox):
    sandbox.configure(keys={"sandbox-key": KeyPlan(rpm=1)})
    client = client_for(sandbox)
    client.generate(REQUEST)
    with pytest.raises(RateLimited) as caught:
        client.generate(REQUEST)
    assert 1 <= caught.value.retry_after <= 60
    assert caught.value.retryable


def test_slow_answer_is_a_network_error():
    from sandbox.server import SandboxServer

    server = SandboxServer(host="127.0.0.1", port=0, config=SandboxConfig(latency_seconds=2.0)).start()
    try:
        with pytest.raises(NetworkError) as caught:
            client_for(server, read_timeout=0.3).generate(REQUEST)
        assert "did not answer in time" in str(caught.value)
    finally:
        server.stop()


def test_unreachable_host_is_a_network_error():
    port = free_port()  # nothing listens there
    client = PixelDojoClient(base_url=f"http://127.0.0.1:{port}/api/v1", api_key="k", connect_timeout=1.0)
    with pytest.raises(NetworkError) as caught:
        client.generate(REQUEST)
    assert caught.value.retryable
    assert "could not be reached" in str(caught.value)


def test_client_repr_never_shows_the_key():
    client = PixelDojoClient(base_url="http://x/api/v1", api_key="secret-key-123")
    assert "secret-key-123" not in repr(client)


# --- Answers the sandbox does not script: a small real HTTP server answering one fixed way -----------------


@contextlib.contextmanager
def answering(status: int, body: bytes, *, drip_seconds: float = 0.0) -> Iterator[str]:
    """A real HTTP server whose every POST gets ``status`` and ``body`` (dripped over ``drip_seconds``)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            pieces = [body[i : i + 4] for i in range(0, len(body), 4)] if drip_seconds else [body]
            for piece in pieces:
                try:
                    self.wfile.write(piece)
                    self.wfile.flush()
                except OSError:
                    return  # the client hung up
                time.sleep(drip_seconds / len(pieces))

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def error_json(code: str | None, message: str) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message}} if code else {"message": message}
    ).encode()


@pytest.mark.parametrize("code", ["insufficient_credits", "payment_required", None])
def test_a_402_is_the_quota_exhausted_whatever_its_code(code):
    with (
        answering(402, error_json(code, "Not enough credits")) as base_url,
        pytest.raises(QuotaExceeded) as caught,
    ):
        PixelDojoClient(base_url=base_url, api_key="k").generate(REQUEST)
    assert caught.value.status == 402 and not caught.value.retryable and not caught.value.answered


@pytest.mark.parametrize("status", [401, 403])
def test_a_401_or_403_is_a_rejected_key(status):
    with (
        answering(status, error_json("forbidden", "Access denied")) as base_url,
        pytest.raises(InvalidApiKey) as caught,
    ):
        PixelDojoClient(base_url=base_url, api_key="k").generate(REQUEST)
    assert "rejected the API key" in str(caught.value)


def test_a_422_is_an_invalid_request_told_in_our_words():
    with (
        answering(422, error_json("validation_error", "num_outputs must be at most 4")) as base_url,
        pytest.raises(InvalidRequest) as caught,
    ):
        PixelDojoClient(base_url=base_url, api_key="k").generate(REQUEST)
    assert str(caught.value) == "PixelDojo found the request invalid: num_outputs must be at most 4"
    assert not caught.value.retryable


KEY = "pd_live_Zx81kQ2mN7vB4cR9tY6u"


@pytest.mark.parametrize(
    "message",
    [
        f"Invalid API key {KEY}",
        "Authorization: Bearer eyJhbGciOi.payload.signature was rejected",
        "api_key=hunter2hunter2 is not valid",
        "token mismatch: a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
    ],
    ids=["the-key", "bearer", "named", "key-like"],
)
def test_provider_text_never_shows_a_key_or_a_token(message):
    with (
        answering(400, error_json("invalid_request", message)) as base_url,
        pytest.raises(InvalidRequest) as caught,
    ):
        PixelDojoClient(base_url=base_url, api_key=KEY).generate(REQUEST)
    shown = f"{caught.value} {caught.value.detail}"
    for secret in (KEY, "eyJhbGciOi", "hunter2hunter2", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"):
        assert secret not in shown
    assert "[REDACTED]" in str(caught.value) and str(caught.value).startswith("PixelDojo refused the request")


def test_provider_text_is_one_short_line():
    assert len(provider_text("word " * 500)) <= 300 and "\n" not in provider_text("a\nb\r\nc")


def test_an_answer_still_arriving_at_the_deadline_is_cut_and_final():
    body = json.dumps({"id": "gen_drip", "images": ["https://x/1.png"], "padding": "x" * 400}).encode()
    with answering(200, body, drip_seconds=4.0) as base_url:
        client = PixelDojoClient(base_url=base_url, api_key="k", read_timeout=2.0, deadline=0.6)
        started = time.monotonic()
        with pytest.raises(UnexpectedResponse) as caught:
            client.generate(REQUEST)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5  # each read took far less than the read timeout; the deadline ended it
    assert caught.value.answered and not caught.value.retryable  # a 2xx: never asked again
    assert "deadline" in caught.value.detail and caught.value.raw_answer.startswith('{"id": "gen_drip"')


def test_an_answer_with_only_images_is_read_with_what_was_asked():
    with answering(200, json.dumps({"images": ["https://x/1.png"]}).encode()) as base_url:
        result = PixelDojoClient(base_url=base_url, api_key="k").generate(REQUEST)
    assert result.images == ("https://x/1.png",) and result.created is None
    assert (result.model, result.prompt, result.id) == ("flux-pro", "a lighthouse at dawn", "")


def test_quota_exceeded_inside_a_200_is_final_and_pauses():
    with (
        answering(200, error_json("insufficient_credits", "No credits left")) as base_url,
        pytest.raises(QuotaExceeded) as caught,
    ):
        PixelDojoClient(base_url=base_url, api_key="k").generate(REQUEST)
    assert caught.value.answered and "may have charged" in str(caught.value)
