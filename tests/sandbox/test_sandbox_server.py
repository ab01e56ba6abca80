"""The PixelDojo sandbox over real HTTP: the documented contract, errors, images, retention and faults."""

from __future__ import annotations

import concurrent.futures
import io
import struct
import time
from typing import Any

import pytest
import requests
from PIL import Image, UnidentifiedImageError

from sandbox.config import FaultRates, KeyPlan, SandboxConfig
from sandbox.render import image_size, render_png
from sandbox.server import SandboxServer
from tests.conftest import wait_for
from tests.sandbox.helpers import BODY, KEY, error_code, flux


def generate_image(server: SandboxServer, **changes: Any) -> requests.Response:
    response = flux(server, **changes)
    assert response.status_code == 200, response.text
    return requests.get(response.json()["images"][0], timeout=10)


# --- POST /flux ---


def test_success_has_the_documented_shape(server):
    response = flux(server, num_outputs=2)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    data = response.json()
    assert data["id"].startswith("gen_") and len(data["id"]) >= 16 and data["id"][4:].isalnum()
    assert abs(data["created"] - time.time()) < 5 and isinstance(data["created"], int)
    assert data["model"] == "flux-pro" and data["prompt"] == BODY["prompt"] and data["seed"] == 7
    assert len(data["images"]) == 2
    for n, url in enumerate(data["images"], start=1):
        assert url.startswith(f"{server.root_url}/generated/") and url.endswith(f"_{n}.png")
        token = url.rsplit("/", 1)[1].split("_")[0]
        assert len(token) >= 24 and int(token, 16) >= 0


def test_flux_is_also_served_without_the_api_prefix(server):
    response = requests.post(
        f"{server.root_url}/flux", json=BODY, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    )
    assert response.status_code == 200


def test_random_seed_is_resolved_and_lora_model_accepts_lora_fields(server):
    response = flux(
        server,
        model="flux-dev-single-lora",
        seed=-1,
        lora_weights="https://example.com/lora.safetensors",
        lora_scale=1.2,
        megapixels="0.25",
        go_fast=True,
    )
    assert response.status_code == 200, response.text
    assert response.json()["seed"] >= 0


@pytest.mark.parametrize(
    "key, headers",
    [(None, {}), ("wrong-key", None), (None, {"Authorization": f"Basic {KEY}"})],
    ids=["missing", "unknown", "not-bearer"],
)
def test_invalid_api_key(server, key, headers):
    if headers is None:
        response = flux(server, key=key)
    else:
        response = requests.post(f"{server.base_url}/flux", json=BODY, headers=headers, timeout=10)
    assert response.status_code == 401
    assert error_code(response) == "invalid_api_key"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"prompt": None}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"model": None}, "model"),
        ({"model": 3}, "model"),
        ({"aspect_ratio": "2:1"}, "aspect_ratio"),
        ({"num_outputs": 0}, "num_outputs"),
        ({"num_outputs": 5}, "num_outputs"),
        ({"num_outputs": "2"}, "num_outputs"),
        ({"num_outputs": True}, "num_outputs"),
        ({"seed": "7"}, "seed"),
        ({"seed": -5}, "seed"),
        ({"lora_weights": "https://example.com/lora.safetensors"}, "lora_weights"),
        ({"model": "flux-dev-single-lora", "lora_weights": "ftp://example.com/x"}, "lora_weights"),
        ({"lora_scale": 3.5}, "lora_scale"),
        ({"lora_scale": "high"}, "lora_scale"),
        ({"megapixels": 1}, "megapixels"),
        ({"megapixels": "2"}, "megapixels"),
        ({"go_fast": "yes"}, "go_fast"),
        ({"style": "anime"}, "style"),
    ],
)
def test_invalid_request_names_the_field(server, changes, field):
    body = {**BODY, **changes}
    body = {name: value for name, value in body.items() if value is not None}
    response = flux(server, body=body)
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"
    assert field in response.json()["error"]["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""], ids=["malformed", "array", "empty"])
def test_body_must_be_a_json_object(server, raw):
    response = requests.post(
        f"{server.base_url}/flux", data=raw, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    )
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"


def test_unknown_model(server):
    response = flux(server, model="flux-9000")
    assert response.status_code == 404
    assert error_code(response) == "model_not_found"


def test_quota_is_consumed_per_image_and_refused_whole(server):
    server.configure(keys={KEY: KeyPlan(quota=1)})

    refused = flux(server, num_outputs=2)
    assert refused.status_code == 402 and error_code(refused) == "quota_exceeded"
    assert flux(server, num_outputs=1).status_code == 200  # the refused request consumed nothing
    assert error_code(flux(server, num_outputs=1)) == "quota_exceeded"
    assert server.stats()["images_generated"] == 1


def test_injected_server_error_consumes_no_credit(server):
    server.configure(keys={KEY: KeyPlan(quota=1)}, faults=FaultRates(server_error=1.0))
    response = flux(server)
    assert response.status_code == 500 and error_code(response) == "server_error"

    server.configure(faults=FaultRates())
    assert flux(server).status_code == 200


def test_rate_limit_answers_429_with_retry_after(server):
    server.configure(keys={KEY: KeyPlan(rpm=3)})
    statuses = [flux(server).status_code for _ in range(3)]
    limited = flux(server)

    assert statuses == [200, 200, 200]
    assert limited.status_code == 429 and error_code(limited) == "rate_limit_exceeded"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert flux(server).status_code == 429
    assert server.stats()["flux_by_status"] == {"200": 3, "429": 2}


def test_rate_limit_is_per_key(server):
    server.configure(keys={KEY: KeyPlan(rpm=1), "other-key": KeyPlan(rpm=1)})
    assert flux(server).status_code == 200
    assert flux(server).status_code == 429
    assert flux(server, key="other-key").status_code == 200


def test_injected_rate_limit_carries_retry_after(server):
    server.configure(faults={"rate_limit": 1.0})
    response = flux(server)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("style", ["nested", "flat"])
def test_error_styles(server, style):
    server.configure(error_style=style)
    data = flux(server, key="nope").json()
    if style == "nested":
        assert data["error"]["code"] == "invalid_api_key" and data["error"]["message"]
    else:
        assert data["error"] == "invalid_api_key" and data["message"]


def test_latency_and_slow_fault_delay_generation(server):
    server.configure(latency_seconds=0.2)
    started = time.monotonic()
    assert flux(server).status_code == 200
    assert time.monotonic() - started >= 0.2

    server.configure(latency_seconds=0.0, faults=FaultRates(slow=1.0, slow_seconds=0.2))
    started = time.monotonic()
    assert flux(server).status_code == 200
    assert time.monotonic() - started >= 0.2


# --- images ---


@pytest.mark.parametrize(
    "aspect_ratio, megapixels, size",
    [("1:1", "1", (1008, 1008)), ("16:9", "0.25", (672, 368)), ("9:16", "1", (752, 1328))],
)
def test_image_is_a_png_of_the_expected_size(server, aspect_ratio, megapixels, size):
    response = generate_image(server, aspect_ratio=aspect_ratio, megapixels=megapixels)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert int(response.headers["Content-Length"]) == len(response.content)
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == size
    image.verify()


def test_image_sizes_are_multiples_of_16_near_the_requested_area():
    for ratio in ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21", "4:5", "5:4"):
        for megapixels, area in (("1", 1_000_000), ("0.25", 250_000)):
            width, height = image_size(ratio, megapixels)
            assert width % 16 == 0 and height % 16 == 0
            assert abs(width * height - area) / area < 0.06


def test_images_are_deterministic_per_prompt_and_seed(server):
    first = generate_image(server).content
    second = generate_image(server).content
    other_prompt = generate_image(server, prompt="A cat in a space suit").content

    assert first == second
    assert first != other_prompt


def test_each_output_is_a_different_image_and_out_of_range_is_404(server):
    urls = flux(server, num_outputs=2).json()["images"]
    first, second = (requests.get(url, timeout=10) for url in urls)
    assert first.status_code == second.status_code == 200 and first.content != second.content
    assert requests.get(urls[0].replace("_1.png", "_3.png"), timeout=10).status_code == 404


def test_unknown_token_is_404(server):
    response = requests.get(f"{server.root_url}/generated/{'ab' * 12}_1.png", timeout=10)
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_image_urls_stop_working_after_retention(server):
    url = flux(server).json()["images"][0]
    server.advance_clock(server.config.retention_seconds - 5)
    assert requests.get(url, timeout=10).status_code == 200

    advanced = requests.post(f"{server.root_url}/_sandbox/clock", json={"advance": 5}, timeout=10)
    assert advanced.status_code == 200
    assert advanced.json()["offset_seconds"] == server.config.retention_seconds
    expired = requests.get(url, timeout=10)
    assert expired.status_code == 404 and error_code(expired) == "not_found"


@pytest.mark.parametrize("body", [{"advance": -1}, {"advance": "soon"}, {"advance": True}, {}, [3]])
def test_the_clock_only_moves_forward_by_a_number_of_seconds(server, body):
    response = requests.post(f"{server.root_url}/_sandbox/clock", json=body, timeout=10)
    assert response.status_code == 400 and error_code(response) == "invalid_request"


def test_advancing_the_clock_frees_rate_limit_slots(server):
    server.configure(keys={KEY: KeyPlan(rpm=1)})
    assert flux(server).status_code == 200
    assert flux(server).status_code == 429
    server.advance_clock(60)
    assert flux(server).status_code == 200


def test_truncated_download_fails_on_the_client(server):
    server.configure(faults=FaultRates(truncate=1.0))
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        generate_image(server)


def test_corrupt_download_is_not_an_image(server):
    server.configure(faults=FaultRates(corrupt=1.0))
    response = generate_image(server)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(response.content))


def test_bomb_download_is_a_small_png_of_400_megapixels(server):
    server.configure(faults=FaultRates(bomb=1.0))
    response = generate_image(server)
    data = response.content
    assert response.status_code == 200 and len(data) < 100_000
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (20_000, 20_000)
    with pytest.raises(Image.DecompressionBombError):  # Pillow's own guard refuses it before decoding
        Image.open(io.BytesIO(data))


def test_forbidden_fault_answers_403_and_charges_nothing(server):
    server.configure(keys={KEY: KeyPlan(quota=1)}, faults=FaultRates(forbidden=1.0))
    refused = flux(server)
    assert refused.status_code == 403 and error_code(refused) == "forbidden"
    server.configure(faults=FaultRates())
    assert flux(server).status_code == 200  # the quota of 1 was still whole
    stats = server.stats()
    assert stats["flux_by_status"] == {"403": 1, "200": 1} and stats["credits_charged"] == {KEY: 1.0}


def test_expired_fault_answers_404(server):
    server.configure(faults=FaultRates(expired=1.0))
    assert generate_image(server).status_code == 404


def test_fault_seed_makes_faults_reproducible():
    outcomes = []
    for _ in range(2):
        config = SandboxConfig(faults=FaultRates(server_error=0.5), fault_seed=1234)
        with SandboxServer(port=0, config=config) as sandbox:
            outcomes.append([flux(sandbox).status_code for _ in range(8)])
    assert outcomes[0] == outcomes[1] and set(outcomes[0]) == {200, 500}


def test_rendering_a_megapixel_image_gives_a_png_of_that_size():
    data = render_png("size check", 1, "flux-pro", "16:9", "1", 1)
    assert data.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    assert 0.9e6 <= width * height <= 1.1e6 and abs(width / height - 16 / 9) < 0.02


# --- control endpoints, stats, HTTP details ---


def test_control_endpoints(server):
    config = requests.get(f"{server.root_url}/_sandbox/config", timeout=10).json()
    assert config["keys"] == {KEY: {"rpm": 60, "quota": None}} and config["retention_seconds"] == 86400

    updated = requests.post(
        f"{server.root_url}/_sandbox/config",
        json={"retention_seconds": 2, "faults": {"server_error": 0.5}, "keys": {KEY: {"rpm": 5, "quota": 3}}},
        timeout=10,
    ).json()
    assert updated["retention_seconds"] == 2 and updated["faults"]["server_error"] == 0.5
    assert updated["faults"]["slow_seconds"] == 2.0  # partial update keeps the other rates
    assert server.config.keys[KEY] == KeyPlan(rpm=5, quota=3)

    invalid = requests.post(
        f"{server.root_url}/_sandbox/config", json={"faults": {"truncate": 2}}, timeout=10
    )
    assert invalid.status_code == 400 and error_code(invalid) == "invalid_request"

    flux(server)
    stats = requests.get(f"{server.root_url}/_sandbox/stats", timeout=10).json()
    assert stats["flux_requests"] == 1 and len(stats["request_times"]) == 1

    reset = requests.post(f"{server.root_url}/_sandbox/reset", timeout=10)
    assert reset.status_code == 200 and reset.json()["config"]["retention_seconds"] == 86400
    assert server.stats() == {
        "flux_requests": 0,
        "flux_by_status": {},
        "image_requests": 0,
        "images_generated": 0,
        "request_times": [],
        "credits_used": {},
        "credits_charged": {},
        "in_flight": {"flux": 0, "image": 0, "run": 0},
        "run_requests": 0,
        "run_by_status": {},
        "job_polls": 0,
        "jobs": {},
        "webhooks": [],
    }


def test_stats_show_the_requests_being_answered(server):
    server.configure(latency_seconds=1.0)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(flux, server)
        wait_for(
            lambda: server.stats()["in_flight"] == {"flux": 1, "image": 0, "run": 0}, timeout=5, interval=0.01
        )
        assert answer.result().status_code == 200
    assert server.stats()["in_flight"] == {"flux": 0, "image": 0, "run": 0}


def test_stats_count_requests_and_images(server):
    urls = flux(server, num_outputs=3).json()["images"]
    flux(server, key="bad")
    requests.get(urls[0], timeout=10)

    stats = server.stats()
    assert stats["flux_requests"] == 2 and stats["flux_by_status"] == {"200": 1, "401": 1}
    assert stats["images_generated"] == 3 and stats["image_requests"] == 1
    assert all(abs(at - time.time()) < 10 for at in stats["request_times"])


def test_reset_forgets_images_and_restores_config(server):
    url = flux(server).json()["images"][0]
    server.configure(error_style="flat")
    server.reset()
    assert server.config.error_style == "nested"
    assert requests.get(url, timeout=10).status_code == 404


def test_configure_rejects_invalid_values(server):
    with pytest.raises(ValueError):
        server.configure(error_style="xml")
    with pytest.raises(ValueError):
        server.configure(image_style="maps")
    with pytest.raises(ValueError):
        server.configure(colour="blue")
    assert server.config.error_style == "nested" and server.config.image_style == "urls"


def test_wrong_method_and_unknown_path_answer_json(server):
    wrong = requests.get(f"{server.base_url}/flux", timeout=10)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST" and error_code(wrong)
    missing = requests.get(f"{server.root_url}/nowhere", timeout=10)
    assert missing.status_code == 404 and error_code(missing) == "not_found"


def test_keep_alive_connection_serves_several_requests(server):
    with requests.Session() as session:
        for _ in range(3):
            response = session.post(
                f"{server.base_url}/flux", json=BODY, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
            )
            assert response.status_code == 200
            assert session.get(response.json()["images"][0], timeout=10).status_code == 200


# --- SandboxConfig.from_env ---


def test_config_from_env():
    config = SandboxConfig.from_env(
        {
            "PIXELDOJO_SANDBOX_KEYS": "free:10,paid:100:50,plain",
            "PIXELDOJO_SANDBOX_RPM": "30",
            "PIXELDOJO_SANDBOX_RETENTION_SECONDS": "1.5",
            "PIXELDOJO_SANDBOX_LATENCY_SECONDS": "0.25",
            "PIXELDOJO_SANDBOX_FAULTS": "server_error=0.1, truncate=0.05,slow_seconds=3",
            "PIXELDOJO_SANDBOX_ERROR_STYLE": "flat",
            "PIXELDOJO_SANDBOX_IMAGE_STYLE": "Objects",
        }
    )
    assert config.keys == {
        "sandbox-key": KeyPlan(rpm=30),
        "free": KeyPlan(rpm=10),
        "paid": KeyPlan(rpm=100, quota=50),
        "plain": KeyPlan(rpm=30),
    }
    assert config.retention_seconds == 1.5 and config.latency_seconds == 0.25
    assert config.faults == FaultRates(server_error=0.1, truncate=0.05, slow_seconds=3)
    assert config.error_style == "flat" and config.image_style == "objects"


def test_images_as_objects_carry_url_seed_and_size(server):
    server.configure(image_style="objects")
    images = flux(server, num_outputs=2, seed=11, aspect_ratio="16:9").json()["images"]
    assert [set(image) for image in images] == [{"url", "seed", "width", "height"}] * 2
    assert {image["seed"] for image in images} == {11}
    for image in images:
        with Image.open(io.BytesIO(requests.get(image["url"], timeout=10).content)) as png:
            assert png.size == (image["width"], image["height"])


def test_config_from_env_defaults_and_redefined_sandbox_key():
    assert SandboxConfig.from_env({}) == SandboxConfig()
    config = SandboxConfig.from_env({"PIXELDOJO_SANDBOX_KEYS": "sandbox-key:5:0"})
    assert config.keys == {"sandbox-key": KeyPlan(rpm=5, quota=0)}


@pytest.mark.parametrize(
    "name, value",
    [
        ("PIXELDOJO_SANDBOX_KEYS", "a:b"),
        ("PIXELDOJO_SANDBOX_RPM", "fast"),
        ("PIXELDOJO_SANDBOX_FAULTS", "explode=0.5"),
        ("PIXELDOJO_SANDBOX_FAULTS", "truncate=1.5"),
        ("PIXELDOJO_SANDBOX_ERROR_STYLE", "xml"),
    ],
)
def test_config_from_env_rejects_invalid_values(name, value):
    with pytest.raises(ValueError):
        SandboxConfig.from_env({name: value})
