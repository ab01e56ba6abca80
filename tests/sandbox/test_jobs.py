"""The sandbox's job API over real HTTP: run, poll, list, outputs, credits, faults and completion webhooks."""

from __future__ import annotations

import concurrent.futures
import io
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from sandbox import catalogue
from sandbox.config import FaultRates, KeyPlan, SandboxConfig
from sandbox.server import SandboxServer
from tests.conftest import wait_for
from tests.sandbox.helpers import KEY, error_code, flux

FLEX = {
    "prompt": "A lighthouse at dusk",
    "resolution": "2 MP",
    "num_outputs": 2,
    "seed": 5,
    "aspect_ratio": "16:9",
}
JOB_ID = re.compile(r"^job_[A-Za-z0-9]{20}$")
SLOW = {"job_pending_seconds": 10, "job_processing_seconds": 10}  # only the sandbox clock ends a job


def auth(key: str | None = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def run(server: SandboxServer, model: str = "flux-2-flex", body: Any = None, key: str | None = KEY):
    """POST /models/{model}/run with ``body`` (FLEX by default)."""
    payload = FLEX if body is None else body
    return requests.post(f"{server.base_url}/models/{model}/run", json=payload, headers=auth(key), timeout=10)


def submit(server: SandboxServer, model: str = "flux-2-flex", body: Any = None, key: str = KEY) -> str:
    """Run a job that must be accepted; its id."""
    response = run(server, model, body, key)
    assert response.status_code == 200, response.text
    return response.json()["jobId"]


def poll(server: SandboxServer, job_id: str, key: str | None = KEY) -> requests.Response:
    return requests.get(f"{server.base_url}/jobs/{job_id}", headers=auth(key), timeout=10)


def job(server: SandboxServer, job_id: str, key: str = KEY) -> dict[str, Any]:
    """GET /jobs/{job_id}, which must answer 200."""
    response = poll(server, job_id, key)
    assert response.status_code == 200, response.text
    return response.json()


def replay(server: SandboxServer, job_id: str) -> requests.Response:
    return requests.post(f"{server.base_url}/jobs/{job_id}/webhook/replay", headers=auth(), timeout=10)


def parse_time(text: str) -> float:
    assert text.endswith("Z")
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


def png_size(url: str) -> tuple[int, int]:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as image:
        return image.size


# --- a webhook receiver ---


class Receiver:
    """A tiny HTTP server in a thread that records every POST and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append((dict(self.headers), json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/pixeldojo"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    yield hooks
    hooks.close()


# --- submission ---


def test_a_job_goes_from_pending_through_processing_to_completed(server):
    server.configure(**SLOW)
    response = run(server)

    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    submitted = response.json()
    assert set(submitted) == {"jobId", "id", "status", "model", "createdAt", "creditCost"}
    assert JOB_ID.match(submitted["jobId"]) and submitted["id"] == submitted["jobId"]
    assert submitted["status"] == "pending" and submitted["model"] == "flux-2-flex"
    assert submitted["creditCost"] == 6  # 2 MP is 3 credits an image
    assert abs(parse_time(submitted["createdAt"]) - time.time()) < 5
    job_id = submitted["jobId"]

    pending = job(server, job_id)
    assert pending == {
        "id": job_id,
        "jobId": job_id,
        "status": "pending",
        "model": "flux-2-flex",
        "createdAt": submitted["createdAt"],
        "creditCost": 6,
        "creditsRefunded": 0,
        "assets": [],
    }
    assert server.stats()["jobs"] == {"pending": 1}
    server.advance_clock(10)
    assert job(server, job_id)["status"] == "processing"
    assert job(server, job_id)["assets"] == []
    assert server.stats()["jobs"] == {"processing": 1}
    server.advance_clock(10)

    done = job(server, job_id)
    assert done["status"] == "completed" and "error" not in done
    assert parse_time(done["completedAt"]) - parse_time(done["createdAt"]) == pytest.approx(20, abs=0.01)
    assert (done["creditCost"], done["creditsRefunded"], done["creditsUsed"]) == (6, 0, 6)
    assert len(done["assets"]) == 2
    for n, asset in enumerate(done["assets"], start=1):
        assert set(asset) == {"url", "status", "seed", "width", "height"}
        assert asset["status"] == "completed" and asset["seed"] == 5
        assert asset["url"].startswith(f"{server.root_url}/generated/") and asset["url"].endswith(f"_{n}.png")
        assert png_size(asset["url"]) == (asset["width"], asset["height"])
    assert done["assets"][0]["width"] > done["assets"][0]["height"]  # 16:9
    assert done["assets"][0]["width"] * done["assets"][0]["height"] == pytest.approx(2_000_000, rel=0.02)

    stats = server.stats()
    assert stats["credits_charged"] == {KEY: 6} and stats["jobs"] == {"completed": 1}
    assert stats["run_requests"] == 1 and stats["run_by_status"] == {"200": 1}
    assert stats["job_polls"] == 4 and stats["images_generated"] == 2 and stats["image_requests"] == 2


def test_jobs_are_served_with_and_without_the_api_prefix(server):
    response = requests.post(
        f"{server.root_url}/models/flux-1.1-pro/run", json={"prompt": "x"}, headers=auth(), timeout=10
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["jobId"]
    assert requests.get(f"{server.root_url}/jobs/{job_id}", headers=auth(), timeout=10).status_code == 200
    assert requests.get(f"{server.root_url}/jobs", headers=auth(), timeout=10).json()["total"] == 1


def test_images_can_come_from_the_second_host(server):
    server.configure(image_host="second", **SLOW)
    job_id = submit(server, body={**FLEX, "resolution": "0.5 MP", "num_outputs": 1})
    server.advance_clock(20)
    url = job(server, job_id)["assets"][0]["url"]
    assert urlsplit(url).hostname == "localhost" and urlsplit(url).port == server.port
    width, height = png_size(url)
    assert width * height == pytest.approx(500_000, rel=0.03)


@pytest.mark.parametrize(
    "model, body, credits",
    [
        ("flux-1.1-pro", {"prompt": "x"}, 1),
        ("flux-1.1-pro", {"prompt": "x", "num_outputs": 3}, 3),
        ("flux-1.1-pro-ultra", {"prompt": "x", "raw": True}, 1.5),
        ("flux-kontext-max", {"prompt": "x", "image_url": "https://example.com/a.png"}, 2),
        ("creative-upscale", {"prompt": "x", "image_url": "https://example.com/a.png"}, 0.5),
        ("flux-2-flex", {"prompt": "x"}, 1.5),
        ("flux-2-flex", {"prompt": "x", "resolution": "0.5 MP", "num_outputs": 4}, 4),
        ("flux-2-flex", {"prompt": "x", "resolution": "4 MP", "num_outputs": 3}, 15),
        ("seedream-4", {"prompt": "x", "megapixels": "4"}, 2),
        ("seedream-4", {"prompt": "x"}, 1),
    ],
)
def test_a_job_costs_its_catalogue_price_per_image(server, model, body, credits):
    assert catalogue.job_credits(model, body) == credits
    response = run(server, model, body)
    assert response.status_code == 200, response.text
    assert response.json()["creditCost"] == credits
    assert server.stats()["credits_charged"] == {KEY: credits}


def test_job_credits_reads_resolution_tiers_and_megapixels():
    assert catalogue.job_credits("flux-2-flex", {"resolution": "2 MP", "num_outputs": 2}) == 6
    assert catalogue.job_credits("flux-2-flex", {"megapixels": "2"}) == 3  # spelled "2 MP" in the tiers
    assert catalogue.job_credits("flux-2-flex", {"megapixels": "3"}) == 1.5  # no such tier: the default
    assert catalogue.job_credits("flux-1.1-pro-ultra", {"num_outputs": 2}) == 3
    with pytest.raises(KeyError):
        catalogue.job_credits("flux-3-imaginary", {})


# --- refusals ---


@pytest.mark.parametrize("key", [None, "wrong-key"], ids=["missing", "unknown"])
def test_run_and_job_endpoints_want_a_valid_key(server, key):
    job_id = submit(server)
    for response in (
        run(server, key=key),
        poll(server, job_id, key=key),
        requests.get(f"{server.base_url}/jobs", headers=auth(key), timeout=10),
        requests.post(f"{server.base_url}/jobs/{job_id}/webhook/replay", headers=auth(key), timeout=10),
    ):
        assert response.status_code == 401 and error_code(response) == "invalid_api_key"
    assert server.stats()["run_by_status"] == {"200": 1, "401": 1}


@pytest.mark.parametrize(
    "model", ["flux-3-imaginary", "kling-2.1", "flux-pro"], ids=["unknown", "video", "seed"]
)
def test_unknown_or_non_image_models_are_not_found(server, model):
    response = run(server, model, {"prompt": "x"})
    assert response.status_code == 404 and error_code(response) == "model_not_found"
    assert server.stats()["credits_charged"] == {} and server.stats()["jobs"] == {}


@pytest.mark.parametrize(
    "model, body, field",
    [
        ("flux-2-flex", {"resolution": "1 MP"}, "prompt"),
        ("flux-2-flex", {"prompt": ""}, "prompt"),
        ("flux-2-flex", {"prompt": 3}, "prompt"),
        ("flux-2-flex", {"prompt": "x" * 2001}, "prompt"),
        ("flux-2-flex", {"prompt": "x", "safety_tolerance": 7}, "safety_tolerance"),
        ("flux-2-flex", {"prompt": "x", "safety_tolerance": 0}, "safety_tolerance"),
        ("flux-2-flex", {"prompt": "x", "safety_tolerance": 2.5}, "safety_tolerance"),
        ("flux-2-flex", {"prompt": "x", "resolution": "3 MP"}, "resolution"),
        ("flux-2-flex", {"prompt": "x", "num_outputs": "2"}, "num_outputs"),
        ("flux-2-flex", {"prompt": "x", "num_outputs": 5}, "num_outputs"),
        ("flux-2-flex", {"prompt": "x", "prompt_upsampling": "yes"}, "prompt_upsampling"),
        ("flux-2-flex", {"prompt": "x", "image_urls": ["https://example.com/a.png"] * 11}, "image_urls"),
        ("flux-2-flex", {"prompt": "x", "image_urls": "https://example.com/a.png"}, "image_urls"),
        ("flux-2-flex", {"prompt": "x", "style": "anime"}, "style"),
        ("flux-dev", {"prompt": "x", "guidance": 11}, "guidance"),
        ("creative-upscale", {"prompt": "x"}, "image_url"),
        ("seedream-4", {"prompt": "x", "style": "Oil Paint"}, "style"),
    ],
)
def test_an_invalid_input_names_the_field(server, model, body, field):
    response = run(server, model, body)
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_request" and field in response.json()["error"]["message"]
    assert server.stats()["credits_charged"] == {} and server.stats()["run_by_status"] == {"400": 1}


def test_invalid_input_uses_the_configured_status_and_error_style(server):
    server.configure(invalid_status=422, error_style="flat")
    response = run(server, body={"prompt": "x", "safety_tolerance": 9})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request" and "safety_tolerance" in response.json()["message"]
    raw = requests.post(f"{server.base_url}/models/flux-2-flex/run", data=b"[1]", headers=auth(), timeout=10)
    assert raw.status_code == 422 and raw.json()["error"] == "invalid_request"


def test_a_job_beyond_the_quota_is_refused(server):
    server.configure(keys={KEY: KeyPlan(quota=5)})
    refused = run(server)  # 2 x 3 credits
    assert refused.status_code == 402 and error_code(refused) == "quota_exceeded"
    assert submit(server, body={**FLEX, "resolution": "1 MP"})  # 2 x 1.5
    assert run(server, body={**FLEX, "resolution": "1 MP"}).status_code == 402  # 2 left
    assert server.stats()["credits_used"] == {KEY: 3} and server.stats()["run_by_status"] == {
        "402": 2,
        "200": 1,
    }


def test_runs_and_flux_share_the_keys_rate_window(server):
    server.configure(keys={KEY: KeyPlan(rpm=2)})
    assert flux(server).status_code == 200
    assert run(server).status_code == 200
    limited = run(server)
    assert limited.status_code == 429 and error_code(limited) == "rate_limit_exceeded"
    assert int(limited.headers["Retry-After"]) >= 1
    assert flux(server).status_code == 429
    server.advance_clock(61)
    assert run(server).status_code == 200


@pytest.mark.parametrize("fault, status", [("server_error", 500), ("rate_limit", 429)])
def test_faults_before_the_job_charge_nothing(server, fault, status):
    server.configure(faults={fault: 1.0})
    response = run(server)
    assert response.status_code == status
    if status == 429:
        assert response.headers["Retry-After"] == "1"
    stats = server.stats()
    assert stats["credits_charged"] == {KEY: 0} and stats["jobs"] == {} and stats["images_generated"] == 0


# --- outcomes ---


def test_a_failed_job_refunds_every_credit(server):
    server.configure(keys={KEY: KeyPlan(quota=6)}, faults={"job_failed": 1.0}, **SLOW)
    job_id = submit(server)
    assert server.stats()["credits_used"] == {KEY: 6}  # charged until the job ends
    assert run(server).status_code == 402
    assert job(server, job_id)["creditsRefunded"] == 0
    server.advance_clock(20)

    failed = job(server, job_id)
    assert failed["status"] == "failed" and failed["assets"] == []
    assert failed["error"] == {
        "code": "generation_failed",
        "message": "The model failed to generate (injected)",
    }
    assert (failed["creditCost"], failed["creditsRefunded"], failed["creditsUsed"]) == (6, 6, 0)
    assert "completedAt" in failed
    stats = server.stats()
    assert stats["credits_charged"] == {KEY: 0} and stats["credits_used"] == {KEY: 0}
    assert stats["jobs"] == {"failed": 1} and stats["images_generated"] == 0
    assert run(server).status_code == 200  # the quota is whole again


def test_failed_images_are_refunded_one_by_one(server):
    # fault_seed 1 with asset_failed 0.5 fails the first and the last of four images.
    server.configure(fault_seed=1, faults={"asset_failed": 0.5}, **SLOW)
    job_id = submit(server, body={**FLEX, "resolution": "1 MP", "num_outputs": 4})
    server.advance_clock(20)

    done = job(server, job_id)
    assert done["status"] == "completed" and "error" not in done
    assert [asset["status"] for asset in done["assets"]] == ["failed", "completed", "completed", "failed"]
    assert (done["creditCost"], done["creditsRefunded"], done["creditsUsed"]) == (6, 3, 3)
    failed, completed = done["assets"][0], done["assets"][1]
    assert failed["url"] is None and failed["error"]["code"] == "asset_failed" and failed["error"]["message"]
    assert completed["url"].endswith("_2.png") and png_size(completed["url"])
    assert done["assets"][2]["url"].endswith("_3.png")
    stats = server.stats()
    assert stats["credits_charged"] == {KEY: 3} and stats["images_generated"] == 2


def test_a_job_whose_every_image_failed_is_failed(server):
    server.configure(faults={"asset_failed": 1.0}, **SLOW)
    job_id = submit(server, "flux-1.1-pro", {"prompt": "x"})
    server.advance_clock(20)
    failed = job(server, job_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "generation_failed"
    assert [asset["status"] for asset in failed["assets"]] == ["failed"]
    assert failed["assets"][0]["url"] is None
    assert (failed["creditsRefunded"], failed["creditsUsed"]) == (1, 0)
    assert server.stats()["credits_charged"] == {KEY: 0}


# --- answer shapes ---


def test_images_output_style_lists_urls(server):
    server.configure(job_output_style="images", faults={"asset_failed": 0.5}, fault_seed=1, **SLOW)
    job_id = submit(server, body={**FLEX, "num_outputs": 4})
    assert job(server, job_id)["images"] == []
    server.advance_clock(20)
    done = job(server, job_id)
    assert "assets" not in done and len(done["images"]) == 2  # the completed ones
    assert all(isinstance(url, str) and png_size(url) for url in done["images"])


def test_output_style_is_a_bare_string_for_one_image(server):
    server.configure(job_output_style="output", **SLOW)
    one = submit(server, body={**FLEX, "num_outputs": 1})
    two = submit(server)
    assert job(server, one)["output"] == []
    server.advance_clock(20)
    single = job(server, one)["output"]
    assert isinstance(single, str) and single.endswith("_1.png") and png_size(single)
    pair = job(server, two)
    assert "assets" not in pair and isinstance(pair["output"], list) and len(pair["output"]) == 2


def test_nested_submit_style_wraps_the_job(server):
    server.configure(job_submit_style="nested")
    submitted = run(server).json()
    assert set(submitted) == {"job"}
    assert set(submitted["job"]) == {"jobId", "id", "status", "model", "createdAt", "creditCost"}
    assert job(server, submitted["job"]["jobId"])["creditCost"] == 6


def test_the_job_list_is_the_keys_newest_first(server):
    server.configure(keys={KEY: KeyPlan(rpm=100), "other": KeyPlan()}, **SLOW)
    mine = [submit(server, "flux-1.1-pro", {"prompt": f"n{n}"}) for n in range(52)]
    theirs = submit(server, "flux-1.1-pro", {"prompt": "theirs"}, key="other")

    listed = requests.get(f"{server.base_url}/jobs", headers=auth(), timeout=10).json()
    assert listed["total"] == 52 and len(listed["jobs"]) == 50
    assert [item["jobId"] for item in listed["jobs"]] == mine[::-1][:50]
    assert listed["jobs"][0] == job(server, mine[-1])
    other = requests.get(f"{server.base_url}/jobs", headers=auth("other"), timeout=10).json()
    assert other == {"jobs": [job(server, theirs, key="other")], "total": 1}
    missing = poll(server, theirs)  # another key's job
    assert missing.status_code == 404 and error_code(missing) == "job_not_found"
    assert poll(server, "job_aaaaaaaaaaaaaaaaaaaa").status_code == 404


def test_jobs_expire_with_the_images(server):
    server.configure(retention_seconds=100, **SLOW)
    job_id = submit(server)
    server.advance_clock(20)
    url = job(server, job_id)["assets"][0]["url"]
    server.advance_clock(80)
    assert poll(server, job_id).status_code == 404
    assert requests.get(url, timeout=10).status_code == 404
    assert requests.get(f"{server.base_url}/jobs", headers=auth(), timeout=10).json() == {
        "jobs": [],
        "total": 0,
    }


# --- faults on the answers ---


def test_poll_faults(server):
    job_id = submit(server)
    server.configure(faults={"poll_error": 1.0})
    broken = poll(server, job_id)
    assert broken.status_code == 503 and error_code(broken) == "server_error"
    server.configure(faults=FaultRates(poll_rate_limit=1.0))
    limited = poll(server, job_id)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert error_code(limited) == "rate_limit_exceeded"
    server.configure(faults=FaultRates())
    assert poll(server, job_id).status_code == 200
    assert server.stats()["job_polls"] == 3


@pytest.mark.parametrize("fault", ["html_200", "error_200", "truncated_200"])
def test_a_spoiled_200_still_made_and_charged_the_job(server, fault):
    server.configure(faults={fault: 1.0})
    try:
        response = run(server)
        assert response.status_code == 200
        if fault == "html_200":
            assert response.headers["Content-Type"].startswith("text/html")
        if fault == "error_200":
            assert error_code(response) == "server_error"
    except requests.exceptions.RequestException:
        assert fault == "truncated_200"
    stats = server.stats()
    assert stats["credits_charged"] == {KEY: 6} and stats["run_by_status"] == {"200": 1}
    assert requests.get(f"{server.base_url}/jobs", headers=auth(), timeout=10).json()["total"] == 1


def test_a_dripping_run_is_counted_in_flight(server):
    server.configure(faults={"drip_200": 1.0, "drip_seconds": 1.0})
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(run, server)
        wait_for(lambda: server.stats()["in_flight"]["run"] == 1, timeout=5, interval=0.01)
        assert answer.result().json()["creditCost"] == 6
    assert server.stats()["in_flight"] == {"flux": 0, "image": 0, "run": 0}


# --- completion webhooks ---


def test_a_webhook_is_replayed_only_for_a_terminal_job(server, receiver):
    server.configure(job_webhook_url=receiver.url, **SLOW)
    job_id = submit(server)
    early = replay(server, job_id)
    assert early.status_code == 409 and error_code(early) == "job_not_terminal"
    assert replay(server, "job_aaaaaaaaaaaaaaaaaaaa").status_code == 404
    server.advance_clock(20)

    replayed = replay(server, job_id)
    assert replayed.status_code == 200 and replayed.json() == {"ok": True, "jobId": job_id}
    wait_for(lambda: receiver.received, timeout=10)
    headers, event = receiver.received[0]
    assert headers["Content-Type"] == "application/json"
    assert event == {"event": "job.completed", **job(server, job_id)}
    assert list(event)[:3] == ["event", "jobId", "status"]
    wait_for(lambda: server.stats()["webhooks"], timeout=10)
    assert server.stats()["webhooks"] == [{"jobId": job_id, "status": 200}]


def test_a_job_sends_its_webhook_when_it_ends(server, receiver):
    server.configure(job_webhook_url=receiver.url, job_pending_seconds=0.05, job_processing_seconds=0.1)
    completed = submit(server, "flux-1.1-pro", {"prompt": "x"})
    server.configure(faults={"job_failed": 1.0})
    failed = submit(server, "flux-1.1-pro", {"prompt": "x"})
    wait_for(lambda: len(server.stats()["webhooks"]) == 2, timeout=10)

    events = {event["jobId"]: event for _, event in receiver.received}
    assert events[completed]["event"] == "job.completed" and events[completed]["status"] == "completed"
    assert events[completed]["assets"][0]["url"].endswith("_1.png")
    assert events[failed]["event"] == "job.failed" and events[failed]["error"]["code"] == "generation_failed"
    assert events[failed]["creditsRefunded"] == 1
    assert sorted(server.stats()["webhooks"], key=lambda hook: hook["jobId"] != completed) == [
        {"jobId": completed, "status": 200},
        {"jobId": failed, "status": 200},
    ]


def test_webhook_deliveries_record_refusals_and_errors(server, receiver):
    server.configure(job_webhook_url=receiver.url, job_pending_seconds=0, job_processing_seconds=0)
    receiver.status = 500
    refused = submit(server, "flux-1.1-pro", {"prompt": "x"})
    wait_for(lambda: server.stats()["webhooks"], timeout=10)
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    server.configure(job_webhook_url=f"http://127.0.0.1:{port}/hooks")
    assert replay(server, refused).status_code == 200
    wait_for(lambda: len(server.stats()["webhooks"]) == 2, timeout=10)
    assert server.stats()["webhooks"] == [
        {"jobId": refused, "status": 500},
        {"jobId": refused, "status": "error"},
    ]


def test_no_webhook_is_sent_after_a_reset_or_a_stop(receiver):
    config = SandboxConfig(job_webhook_url=receiver.url, job_pending_seconds=0.2, job_processing_seconds=0.1)
    with SandboxServer(config=config) as sandbox:
        submit(sandbox, "flux-1.1-pro", {"prompt": "x"})
        sandbox.reset()
        submit(sandbox, "flux-1.1-pro", {"prompt": "x"})
    time.sleep(0.6)
    assert receiver.received == []


# --- config ---


def test_job_settings_are_configurable_over_http_and_from_the_environment(server):
    changes = {
        "job_pending_seconds": 1.5,
        "job_processing_seconds": 0,
        "job_submit_style": "nested",
        "job_output_style": "output",
        "job_webhook_url": "https://hooks.example.com/pixeldojo",
        "faults": {"job_failed": 0.1, "asset_failed": 0.2, "poll_error": 0.3, "poll_rate_limit": 0.4},
    }
    shown = requests.post(f"{server.root_url}/_sandbox/config", json=changes, timeout=10).json()
    assert {name: shown[name] for name in changes if name != "faults"} == {
        name: value for name, value in changes.items() if name != "faults"
    }
    assert {name: shown["faults"][name] for name in changes["faults"]} == changes["faults"]
    for invalid in (
        {"job_pending_seconds": -1},
        {"job_submit_style": "deep"},
        {"job_output_style": "files"},
        {"job_webhook_url": "ftp://example.com/x"},
        {"faults": {"job_failed": 2}},
    ):
        response = requests.post(f"{server.root_url}/_sandbox/config", json=invalid, timeout=10)
        assert response.status_code == 400, invalid

    config = SandboxConfig.from_env(
        {
            "PIXELDOJO_SANDBOX_JOB_PENDING_SECONDS": "0.5",
            "PIXELDOJO_SANDBOX_JOB_PROCESSING_SECONDS": "2",
            "PIXELDOJO_SANDBOX_JOB_SUBMIT_STYLE": "Nested",
            "PIXELDOJO_SANDBOX_JOB_OUTPUT_STYLE": "images",
            "PIXELDOJO_SANDBOX_JOB_WEBHOOK_URL": "http://127.0.0.1:9/Hooks",
            "PIXELDOJO_SANDBOX_FAULTS": "job_failed=0.5,poll_rate_limit=0.1",
        }
    )
    assert (config.job_pending_seconds, config.job_processing_seconds) == (0.5, 2)
    assert (config.job_submit_style, config.job_output_style) == ("nested", "images")
    assert config.job_webhook_url == "http://127.0.0.1:9/Hooks"
    assert config.faults == FaultRates(job_failed=0.5, poll_rate_limit=0.1)
    defaults = SandboxConfig()
    assert (defaults.job_pending_seconds, defaults.job_processing_seconds) == (0.2, 0.6)
    assert (defaults.job_submit_style, defaults.job_output_style, defaults.job_webhook_url) == (
        "flat",
        "assets",
        None,
    )
    with pytest.raises(ValueError):
        SandboxConfig.from_env({"PIXELDOJO_SANDBOX_JOB_OUTPUT_STYLE": "files"})


def test_a_job_ends_in_real_time_with_the_default_timings(server):
    job_id = submit(server, "flux-1.1-pro", {"prompt": "x"})
    assert job(server, job_id)["status"] == "pending"
    wait_for(lambda: job(server, job_id)["status"] == "completed", timeout=10, interval=0.05)
