"""On S3 storage a share link's original is the members' own answer: a redirect to a short-lived signed URL of
exactly the stored bytes, never cached; an image outside the link gets no URL."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from library.services import share_link_create
from tests.generations.test_s3_storage import (  # noqa: F401 - fixtures used by name
    URL_LIFETIME,
    bucket,
    s3_endpoint,
    stored_images,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_shared_original_redirects_to_a_signed_short_lived_url(bucket, stored_images, alice):  # noqa: F811
    shared, other = stored_images
    token = share_link_create(user=alice, image=shared, expires_in_days=1).token
    visitor = Client()
    response = visitor.get(reverse("share_original", args=[token, shared.code]))
    assert response.status_code == 302 and response["Cache-Control"] == "private, no-store"
    location = response["Location"]
    query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    assert location.startswith(bucket.endpoint + "/") and query["X-Amz-Expires"] == str(URL_LIFETIME)
    assert query["response-content-disposition"].startswith("inline;")
    fetched = requests.get(location, timeout=5)
    assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == shared.sha256
    refused = visitor.get(reverse("share_original", args=[token, other.code]))
    assert refused.status_code == 404 and "Location" not in refused
