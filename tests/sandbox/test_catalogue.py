"""The sandbox's model catalogue over HTTP: the list, one model with its schema, its faults."""

from __future__ import annotations

import requests

from sandbox.config import FaultRates


def get(server, path: str, **params: str) -> requests.Response:
    return requests.get(f"{server.base_url}{path}", params=params, timeout=10)


def test_the_list_has_image_models_of_both_cost_kinds_and_video_models(server):
    body = get(server, "/models", detailed="true").json()
    images = [m for m in body["models"] if m["modality"] == "image"]
    assert body["imageCount"] == len(images) >= 8 and body["videoCount"] >= 2
    assert body["total"] == len(body["models"])
    kinds = {m["creditCost"]["type"] for m in images}
    assert "fixed" in kinds and kinds & {"resolution", "by_resolution"}
    assert all("description" in m and "requestSchema" not in m for m in body["models"])
    assert "description" not in get(server, "/models").json()["models"][0]


def test_one_model_comes_with_its_request_schema(server):
    model = get(server, "/models/flux-2-flex").json()
    schema = model["requestSchema"]
    assert schema["additionalProperties"] is False and schema["required"] == ["prompt"]
    assert schema["properties"]["resolution"]["enum"] == ["0.5 MP", "1 MP", "2 MP", "4 MP"]
    assert schema["properties"]["num_outputs"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 4,
        "default": 1,
        "description": "Images to make.",
    }
    assert get(server, "/models/flux-2-flex/schema").json() == schema
    missing = get(server, "/models/flux-3-imaginary")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_the_catalogue_can_be_made_to_fail(server):
    server.configure(faults=FaultRates(catalogue_error=1.0))
    assert get(server, "/models", detailed="true").status_code == 503
    assert get(server, "/models/flux-dev").status_code == 503
    server.configure(faults=FaultRates(schema_error=1.0))
    assert get(server, "/models").status_code == 200
    assert get(server, "/models/flux-dev").status_code == 503
    assert get(server, "/models/flux-dev/schema").status_code == 503
    server.configure(faults=FaultRates())
    assert get(server, "/models/flux-dev").status_code == 200
