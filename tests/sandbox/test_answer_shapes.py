"""The sandbox's configurable answer shapes over real HTTP: costs and reported credits, 422, X-RateLimit-*
headers, and the 2xx faults that come after the images were made and charged."""

from __future__ import annotations

import http.client
import io
import json
import logging
import math
import time
from typing import Any

import pytest
import requests
from PIL import Image

from sandbox.config import FaultRates, KeyPlan, SandboxConfig
from sandbox.server import SandboxServer
from tests.conftest import wait_for
from tests.sandbox.helpers import BODY, KEY, error_code, flux

ULTRA = "flux-1.1-pro-ultra"


def raw_flux(
    server: SandboxServer, **changes: Any
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """POST /flux on a connection of our own, returning as soon as the status line and headers are in."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    connection.request(
        "POST",
        "/api/v1/flux",
        body=json.dumps({**BODY, **changes}),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    return connection, connection.getresponse()


def urls_of(images: list[Any]) -> list[str]:
    return [image["url"] if isinstance(image, dict) else image for image in images]


def assert_made_and_charged(server: SandboxServer, images: int, credits: float) -> None:
    """One POST /flux, counted as a 200 that made ``images`` images and charged ``credits``."""
    stats = server.stats()
    assert stats["flux_by_status"] == {"200": 1}
    assert stats["images_generated"] == images
    assert stats["credits_charged"] == {KEY: credits}


# --- model costs and reported credits ---


def test_model_costs_are_charged_per_image_and_reported(server):
    server.configure(keys={KEY: KeyPlan(quota=5)}, credits_style="reported")

    ultra = flux(server, model=ULTRA, num_outputs=2)
    assert ultra.status_code == 200
    assert ultra.json()["credits_used"] == 3 and ultra.json()["credits_remaining"] == 2
    pro = flux(server, model="flux-pro")
    assert (pro.json()["credits_used"], pro.json()["credits_remaining"]) == (1, 1)
    refused = flux(server, model=ULTRA)  # 1.5 does not fit in the 1 left
    assert refused.status_code == 402 and error_code(refused) == "quota_exceeded"
    assert "1.5 credit(s) requested, 1 left" in refused.json()["error"]["message"]

    stats = server.stats()
    assert stats["credits_charged"] == {KEY: 4.0} and stats["credits_used"] == {KEY: 4.0}
    assert stats["images_generated"] == 3


def test_fractional_quota_and_costs(server):
    server.configure(
        keys={KEY: KeyPlan(quota=2.5)}, model_costs={ULTRA: 1.5, "flux-pro": 0.5}, credits_style="reported"
    )
    first = flux(server, model=ULTRA).json()
    assert (first["credits_used"], first["credits_remaining"]) == (1.5, 1)
    second = flux(server, model="flux-pro", num_outputs=2).json()
    assert (second["credits_used"], second["credits_remaining"]) == (1, 0)
    assert error_code(flux(server, model="flux-pro")) == "quota_exceeded"
    assert server.stats()["credits_charged"] == {KEY: 2.5}


def test_credits_are_charged_for_every_key_and_reported_without_remaining_when_unlimited(server):
    server.configure(keys={KEY: KeyPlan(), "team-key": KeyPlan(quota=10)}, credits_style="reported")

    unlimited = flux(server, model=ULTRA, num_outputs=3).json()
    assert unlimited["credits_used"] == 4.5 and "credits_remaining" not in unlimited
    flux(server, key="team-key", num_outputs=4)

    stats = server.stats()
    assert stats["credits_charged"] == {KEY: 4.5, "team-key": 4.0}
    assert stats["credits_used"] == {"team-key": 4.0}  # counted against quotas only, as before


def test_seed_shaped_body_by_default_and_refunds_of_injected_errors(server):
    server.configure(keys={KEY: KeyPlan(quota=3)})
    body = flux(server, model=ULTRA).json()
    assert set(body) == {"id", "created", "images", "model", "prompt", "seed"}

    server.configure(faults={"server_error": 1.0})
    assert flux(server, model=ULTRA).status_code == 500
    assert server.stats()["credits_charged"] == {KEY: 1.5}
    server.configure(faults={"server_error": 0.0})
    assert flux(server, model=ULTRA).status_code == 200  # 1.5 + 1.5 fit the quota of 3: nothing was kept


# --- 400 or 422 ---


def test_invalid_requests_answer_422_when_asked(server):
    server.configure(invalid_status=422)

    invalid = flux(server, num_outputs=9)
    assert invalid.status_code == 422 and error_code(invalid) == "invalid_request"
    assert "num_outputs" in invalid.json()["error"]["message"]
    malformed = requests.post(
        f"{server.base_url}/flux", data=b"{nope", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    )
    assert malformed.status_code == 422 and error_code(malformed) == "invalid_request"
    assert flux(server, model="flux-9000").status_code == 404
    assert flux(server, key="wrong").status_code == 401
    assert server.stats()["flux_by_status"] == {"422": 2, "404": 1, "401": 1}

    server.configure(invalid_status=400)
    assert flux(server, num_outputs=9).status_code == 400


# --- X-RateLimit-* headers ---


def limits(response: requests.Response | http.client.HTTPResponse) -> tuple[int, int, int]:
    headers = response.headers
    return tuple(int(headers[f"X-RateLimit-{name}"]) for name in ("Limit", "Remaining", "Reset"))


def test_rate_limit_headers_in_seconds(server):
    server.configure(keys={KEY: KeyPlan(rpm=3, quota=1)}, rate_limit_headers="seconds")
    started = time.monotonic()

    ok = flux(server)
    limit, remaining, reset = limits(ok)
    assert (ok.status_code, limit, remaining) == (200, 3, 2)
    assert math.floor(60 - (time.monotonic() - started)) <= reset <= 60

    server.advance_clock(30)
    refused = flux(server)  # a 402 still took a slot of the window
    assert refused.status_code == 402
    assert limits(refused)[1] == 1
    assert math.floor(30 - (time.monotonic() - started)) <= limits(refused)[2] <= 30
    invalid = flux(server, num_outputs=0)
    assert invalid.status_code == 400 and limits(invalid)[:2] == (3, 0)
    limited = flux(server)
    assert limited.status_code == 429
    assert limits(limited)[:2] == (3, 0)
    assert abs(limits(limited)[2] - int(limited.headers["Retry-After"])) <= 1  # read a moment apart

    server.advance_clock(30)  # the first slot frees, the other two in 30 s
    server.configure(keys={KEY: KeyPlan(rpm=3)})
    again = flux(server)
    assert again.status_code == 200 and limits(again)[1] == 0
    assert math.floor(30 - (time.monotonic() - started)) <= limits(again)[2] <= 30


def test_rate_limit_headers_as_epoch_on_the_sandbox_clock(server):
    server.configure(keys={KEY: KeyPlan(rpm=5)}, rate_limit_headers="epoch")
    offset = server.advance_clock(1000)
    before = time.time() + offset
    response = flux(server)
    after = time.time() + offset

    limit, remaining, reset = limits(response)
    assert (limit, remaining) == (5, 4)
    assert before + 60 <= reset <= math.ceil(after + 60)


def test_rate_limit_headers_only_when_asked_and_only_for_a_known_key(server):
    assert not any(name.lower().startswith("x-ratelimit") for name in flux(server).headers)
    server.configure(rate_limit_headers="seconds")
    assert "X-RateLimit-Limit" not in flux(server, key="wrong").headers  # no key, no window
    server.configure(faults={"rate_limit": 1.0})
    injected = flux(server)  # the injected 429 gives its slot back
    assert injected.status_code == 429 and limits(injected)[:2] == (60, 59)


@pytest.mark.parametrize(
    "fault", ["html_200", "error_200", "extra_url", "duplicate_url", "truncated_200", "drip_200"]
)
def test_rate_limit_headers_come_with_every_answer_shape(server, fault):
    server.configure(
        keys={KEY: KeyPlan(rpm=7)}, rate_limit_headers="seconds", faults={fault: 1.0, "drip_seconds": 0.2}
    )
    connection, response = raw_flux(server)
    try:
        assert response.status == 200
        assert limits(response)[:2] == (7, 6) and 0 <= limits(response)[2] <= 60
    finally:
        connection.close()


# --- 2xx faults: made and charged, but an odd answer ---


@pytest.mark.parametrize("style", ["urls", "objects"])
def test_extra_url_lists_one_more_image_that_downloads(server, style):
    server.configure(image_style=style, credits_style="reported", faults=FaultRates(extra_url=1.0))

    body = flux(server, num_outputs=2).json()
    assert len(body["images"]) == 3 and body["credits_used"] == 2
    if style == "objects":
        assert all(set(image) == {"url", "seed", "width", "height"} for image in body["images"])
    urls = urls_of(body["images"])
    assert len(set(urls)) == 3 and urls[2].endswith("_3.png")
    downloads = [requests.get(url, timeout=10) for url in urls]
    assert [download.status_code for download in downloads] == [200, 200, 200]
    assert len({download.content for download in downloads}) == 3
    with Image.open(io.BytesIO(downloads[2].content)) as png:
        png.verify()
    assert requests.get(urls[2].replace("_3.png", "_4.png"), timeout=10).status_code == 404
    assert_made_and_charged(server, images=2, credits=2.0)


@pytest.mark.parametrize("style", ["urls", "objects"])
def test_duplicate_url_repeats_the_first_image_at_the_end(server, style):
    server.configure(image_style=style, faults=FaultRates(duplicate_url=1.0))

    images = flux(server, num_outputs=2).json()["images"]
    assert len(images) == 3 and images[2] == images[0] and images[1] != images[0]
    assert all(requests.get(url, timeout=10).status_code == 200 for url in urls_of(images))
    assert_made_and_charged(server, images=2, credits=2.0)


def test_truncated_200_sends_half_the_announced_body_and_closes(server):
    server.configure(faults=FaultRates(truncated_200=1.0))

    connection, response = raw_flux(server, model=ULTRA)
    try:
        assert response.status == 200 and response.getheader("Content-Type") == "application/json"
        announced = int(response.getheader("Content-Length"))
        with pytest.raises(http.client.IncompleteRead) as cut:  # the server closed the connection
            response.read()
    finally:
        connection.close()
    assert len(cut.value.partial) == announced // 2 and cut.value.partial.startswith(b'{"id": "gen_')

    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        flux(server)
    stats = server.stats()
    assert stats["flux_by_status"] == {"200": 2} and stats["images_generated"] == 2
    assert stats["credits_charged"] == {KEY: 2.5}


def test_drip_200_spreads_the_body_over_drip_seconds(server):
    server.configure(faults=FaultRates(drip_200=1.0, drip_seconds=0.6))

    started = time.monotonic()
    connection, response = raw_flux(server, num_outputs=2)
    try:
        head_at = time.monotonic() - started
        length = int(response.getheader("Content-Length"))
        pieces, arrivals = [], []
        while sum(map(len, pieces)) < length:
            piece = response.read1(length)
            assert piece, "the connection closed before the announced length"
            pieces.append(piece)
            arrivals.append(time.monotonic() - started)
    finally:
        connection.close()

    assert response.status == 200 and head_at < 0.3
    assert 0.55 <= arrivals[-1] <= 1.5
    gaps = [later - earlier for earlier, later in zip([head_at, *arrivals], arrivals, strict=False)]
    assert len(pieces) >= 3 and max(gaps) < 0.3
    assert len(json.loads(b"".join(pieces))["images"]) == 2
    assert_made_and_charged(server, images=2, credits=2.0)


def test_drip_200_stops_quietly_when_the_client_goes_away(server, caplog):
    server.configure(faults=FaultRates(drip_200=1.0, drip_seconds=5.0))

    with caplog.at_level(logging.DEBUG, logger="sandbox"):
        connection, response = raw_flux(server)
        assert response.status == 200
        left = time.monotonic()
        connection.close()
        response.close()
        wait_for(lambda: server.stats()["in_flight"]["flux"] == 0, timeout=3, interval=0.02)
    assert time.monotonic() - left < 1.5
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    server.configure(faults=FaultRates())
    assert flux(server).status_code == 200  # and the server still answers


@pytest.mark.parametrize("code", [None, "quota_exceeded"])
def test_error_200_reports_the_configured_code(server, code):
    server.configure(faults=FaultRates(error_200=1.0), **({"error_200_code": code} if code else {}))

    response = flux(server)
    assert response.status_code == 200
    assert response.json()["error"]["code"] == (code or "server_error")
    assert_made_and_charged(server, images=1, credits=1.0)


# --- configuration ---


NEW_FIELDS = {
    "model_costs": {ULTRA: 2, "flux-pro": 0.5},
    "credits_style": "reported",
    "invalid_status": 422,
    "rate_limit_headers": "epoch",
    "error_200_code": "quota_exceeded",
}


def test_control_endpoint_shows_accepts_and_resets_the_new_fields(server):
    url = f"{server.root_url}/_sandbox/config"
    shown = requests.get(url, timeout=10).json()
    assert {name: shown[name] for name in NEW_FIELDS} == {
        "model_costs": {ULTRA: 1.5},
        "credits_style": "none",
        "invalid_status": 400,
        "rate_limit_headers": "none",
        "error_200_code": "server_error",
    }
    assert {name: shown["faults"][name] for name in ("extra_url", "drip_200", "drip_seconds")} == {
        "extra_url": 0.0,
        "drip_200": 0.0,
        "drip_seconds": 5.0,
    }

    faults = {"extra_url": 0.5, "duplicate_url": 0.25, "truncated_200": 0.1, "drip_200": 1, "drip_seconds": 2}
    updated = requests.post(
        url, json={**NEW_FIELDS, "faults": faults, "keys": {KEY: {"quota": 2.5}}}, timeout=10
    ).json()
    assert {name: updated[name] for name in NEW_FIELDS} == {
        **NEW_FIELDS,
        "model_costs": {ULTRA: 2.0, "flux-pro": 0.5},
    }
    assert {name: updated["faults"][name] for name in faults} == faults
    assert updated["keys"][KEY] == {"rpm": 60, "quota": 2.5}
    assert server.config.model_cost("flux-1.1-pro") == 1

    for invalid, named in (
        ({"model_costs": {"flux-9000": 1}}, "model_costs"),
        ({"credits_style": "maybe"}, "credits_style"),
        ({"invalid_status": 418}, "invalid_status"),
        ({"rate_limit_headers": "ms"}, "rate_limit_headers"),
        ({"error_200_code": "Oops!"}, "error_200_code"),
        ({"faults": {"drip_seconds": -1}}, "drip_seconds"),
    ):
        refused = requests.post(url, json=invalid, timeout=10)
        assert refused.status_code == 400 and error_code(refused) == "invalid_request"
        assert named in refused.json()["error"]["message"]
    assert server.config.credits_style == "reported"  # refused updates change nothing

    reset = requests.post(f"{server.root_url}/_sandbox/reset", timeout=10).json()["config"]
    assert reset == SandboxConfig().to_dict()


def test_config_from_env_reads_the_new_variables():
    config = SandboxConfig.from_env(
        {
            "PIXELDOJO_SANDBOX_KEYS": "paid:100:12.5,whole:10:3",
            "PIXELDOJO_SANDBOX_MODEL_COSTS": "flux-1.1-pro-ultra=1.5, flux-pro=2",
            "PIXELDOJO_SANDBOX_CREDITS_STYLE": "Reported",
            "PIXELDOJO_SANDBOX_INVALID_STATUS": "422",
            "PIXELDOJO_SANDBOX_RATE_LIMIT_HEADERS": "epoch",
            "PIXELDOJO_SANDBOX_ERROR_200_CODE": "quota_exceeded",
            "PIXELDOJO_SANDBOX_FAULTS": (
                "extra_url=0.1,duplicate_url=0.2,truncated_200=0.3,drip_200=1,drip_seconds=4"
            ),
        }
    )
    assert config.keys["paid"] == KeyPlan(rpm=100, quota=12.5) and config.keys["whole"].quota == 3
    assert config.model_costs == {ULTRA: 1.5, "flux-pro": 2.0}
    assert config.model_cost("flux-pro") == 2 and config.model_cost("flux-1.1-pro") == 1
    assert (config.credits_style, config.invalid_status, config.rate_limit_headers) == (
        "reported",
        422,
        "epoch",
    )
    assert config.error_200_code == "quota_exceeded"
    assert config.faults == FaultRates(
        extra_url=0.1, duplicate_url=0.2, truncated_200=0.3, drip_200=1, drip_seconds=4
    )


def test_new_fields_default_to_the_seed_contract():
    config = SandboxConfig()
    assert config.model_costs == {ULTRA: 1.5} and config.model_cost("flux-pro") == 1
    assert (config.credits_style, config.invalid_status, config.rate_limit_headers) == ("none", 400, "none")
    assert config.error_200_code == "server_error" and config.faults.drip_seconds == 5.0


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"model_costs": {"flux-9000": 1}}, "unknown model 'flux-9000'"),
        ({"model_costs": {"flux-pro": -1}}, "cost of model 'flux-pro' must be a non-negative number"),
        ({"model_costs": {"flux-pro": "2"}}, "cost of model 'flux-pro'"),
        ({"model_costs": {"flux-pro": float("nan")}}, "cost of model 'flux-pro'"),
        ({"model_costs": [("flux-pro", 2)]}, "model_costs must be a mapping"),
        ({"credits_style": "json"}, "credits_style must be one of none, reported"),
        ({"invalid_status": 404}, "invalid_status must be one of 400, 422"),
        ({"invalid_status": "422"}, "invalid_status must be one of 400, 422"),
        ({"invalid_status": 422.0}, "invalid_status must be one of 400, 422"),
        ({"rate_limit_headers": "ms"}, "rate_limit_headers must be one of none, seconds, epoch"),
        ({"error_200_code": ""}, "error_200_code must be an error code"),
        ({"error_200_code": "Server Error"}, "error_200_code must be an error code"),
        ({"faults": {"drip_seconds": -0.5}}, "drip_seconds must be >= 0"),
        ({"faults": {"extra_url": 1.5}}, "fault rate extra_url must be between 0 and 1"),
        ({"faults": {"truncated_200": True}}, "fault truncated_200 must be a finite number"),
        ({"keys": {KEY: {"quota": -0.5}}}, "quota must be a non-negative number or None"),
        ({"keys": {KEY: {"quota": "1"}}}, "quota must be a non-negative number or None"),
        ({"keys": {KEY: {"quota": float("inf")}}}, "quota must be a non-negative number or None"),
    ],
)
def test_config_rejects_invalid_new_values(changes, message):
    with pytest.raises(ValueError, match=message):
        SandboxConfig().updated(**changes)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("MODEL_COSTS", "flux-pro", "must look like model=credits"),
        ("MODEL_COSTS", "=2", "must look like model=credits"),
        ("MODEL_COSTS", "flux-pro=lots", "cost of model 'flux-pro' must be a number"),
        ("MODEL_COSTS", "flux-2-max=2", "unknown model"),
        ("CREDITS_STYLE", "xml", "credits_style"),
        ("INVALID_STATUS", "teapot", "PIXELDOJO_SANDBOX_INVALID_STATUS must be a number"),
        ("INVALID_STATUS", "418", "invalid_status"),
        ("RATE_LIMIT_HEADERS", "minutes", "rate_limit_headers"),
        ("ERROR_200_CODE", "no way", "error_200_code"),
        ("KEYS", "a:10:lots", "quota of 'a' must be a number"),
        ("FAULTS", "drip_200=often", "non-numeric"),
    ],
)
def test_config_from_env_rejects_invalid_new_values(name, value, message):
    with pytest.raises(ValueError, match=message):
        SandboxConfig.from_env({f"PIXELDOJO_SANDBOX_{name}": value})


# --- image URLs on a second host name ---


@pytest.mark.parametrize("style", ["urls", "objects"])
def test_image_urls_can_be_on_a_second_name_for_the_sandbox_and_are_served_there(server, style):
    server.configure(image_host="second", image_style=style)

    urls = urls_of(flux(server, num_outputs=2).json()["images"])
    assert [url.split("/generated/")[0] for url in urls] == [f"http://localhost:{server.port}"] * 2
    for url in urls:
        got = requests.get(url, timeout=5)
        assert got.status_code == 200 and got.headers["Content-Type"] == "image/png"

    called_at_localhost = requests.post(
        f"http://localhost:{server.port}/api/v1/flux",
        json=BODY,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    assert urls_of(called_at_localhost.json()["images"])[0].startswith(f"http://127.0.0.1:{server.port}/")


def test_image_urls_are_on_the_host_called_by_default(server):
    assert server.config.image_host == "api"
    assert urls_of(flux(server).json()["images"])[0].startswith(f"http://127.0.0.1:{server.port}/generated/")


def test_the_image_host_is_read_from_the_environment_and_checked():
    assert SandboxConfig.from_env({"PIXELDOJO_SANDBOX_IMAGE_HOST": "Second"}).image_host == "second"
    with pytest.raises(ValueError, match="image_host must be one of api, second"):
        SandboxConfig.from_env({"PIXELDOJO_SANDBOX_IMAGE_HOST": "cdn"})
