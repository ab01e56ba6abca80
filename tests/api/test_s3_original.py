"""On S3 storage the API's original is a redirect to a short-lived signed URL of exactly the stored bytes
(the pages' own ``_serve``), for a token whose space holds the image only."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.api.helpers import api_client, token_for
from tests.generations.test_s3_storage import (  # noqa: F401 - fixtures used by name
    URL_LIFETIME,
    bucket,
    s3_endpoint,
    stored_images,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_original_redirects_to_a_signed_short_lived_url(bucket, stored_images, alice, bob):  # noqa: F811
    image = stored_images[0]
    response = api_client(token_for(alice, scopes=["read"])).get(
        f"/api/v1/images/{image.code}/original", {"download": "true"}
    )
    assert response.status_code == 302 and "no-store" in response["Cache-Control"]
    location = response["Location"]
    query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    assert location.startswith(bucket.endpoint + "/") and query["X-Amz-Expires"] == str(URL_LIFETIME)
    assert query["response-content-disposition"].startswith("attachment;")
    fetched = requests.get(location, timeout=5)
    assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == image.sha256
    refused = api_client(token_for(bob, scopes=["read"])).get(f"/api/v1/images/{image.code}/original")
    assert refused.status_code == 404 and "Location" not in refused
