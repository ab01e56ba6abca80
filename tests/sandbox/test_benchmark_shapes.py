"""Sandbox options for benchmarks: every picture at one size, and a pool of pictures rendered once."""

from __future__ import annotations

import hashlib
import io

import pytest
import requests
from PIL import Image

from sandbox.config import SandboxConfig
from tests.sandbox.helpers import flux


def _download(url: str) -> bytes:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    return response.content


def test_output_megapixels_sizes_every_picture_and_the_answer_says_so(server):
    server.configure(output_megapixels=4, image_style="objects")
    images = flux(server, num_outputs=2, megapixels="0.25", aspect_ratio="1:1").json()["images"]
    for image in images:
        assert (image["width"], image["height"]) == (2000, 2000)
        with Image.open(io.BytesIO(_download(image["url"]))) as png:
            assert png.size == (2000, 2000)
            png.verify()

    server.configure(output_megapixels=None)
    (image,) = flux(server, megapixels="0.25", aspect_ratio="1:1").json()["images"]
    assert (image["width"], image["height"]) == (496, 496)  # as asked again


def test_image_pool_reuses_pictures_but_every_file_differs(server):
    server.configure(image_pool=2)
    urls = [url for _ in range(3) for url in flux(server, num_outputs=4).json()["images"]]
    files = [_download(url) for url in urls]
    assert len({hashlib.sha256(data).hexdigest() for data in files}) == len(urls)  # each file its own
    pictures = set()
    for url, data in zip(urls, files, strict=True):
        with Image.open(io.BytesIO(data)) as png:
            png.load()
            assert png.text["Source"] == url.rsplit("/", 1)[1].removesuffix(".png")
            pictures.add(png.tobytes())
    assert len(pictures) <= 2  # but only two pictures were ever rendered
    assert _download(urls[0]) == files[0]  # and a second download is byte-identical


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"output_megapixels": 0}, "output_megapixels"),
        ({"output_megapixels": 17}, "output_megapixels"),
        ({"output_megapixels": "4"}, "output_megapixels"),
        ({"image_pool": -1}, "image_pool"),
        ({"image_pool": 65}, "image_pool"),
        ({"image_pool": True}, "image_pool"),
    ],
)
def test_invalid_benchmark_options_are_refused_with_a_clear_message(server, changes, message):
    response = requests.post(f"{server.root_url}/_sandbox/config", json=changes, timeout=10)
    assert response.status_code == 400 and message in response.json()["error"]["message"]
    assert server.config.output_megapixels is None and server.config.image_pool == 0


def test_benchmark_options_from_the_environment():
    config = SandboxConfig.from_env(
        {"PIXELDOJO_SANDBOX_OUTPUT_MEGAPIXELS": "4", "PIXELDOJO_SANDBOX_IMAGE_POOL": "16"}
    )
    assert config.output_megapixels == 4.0 and config.image_pool == 16
    assert config.to_dict()["output_megapixels"] == 4.0 and config.to_dict()["image_pool"] == 16
    with pytest.raises(ValueError, match="PIXELDOJO_SANDBOX_IMAGE_POOL must be a number"):
        SandboxConfig.from_env({"PIXELDOJO_SANDBOX_IMAGE_POOL": "many"})
