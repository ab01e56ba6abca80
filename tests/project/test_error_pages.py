"""Errors that reach people are pages in the site's layout (DEBUG off), with the reason when there is one."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from pixelgallery.views import server_error
from teams.active import SESSION_KEY
from teams.models import Membership, Team

HEADER = '<header class="topbar">'
NAV = '<nav class="nav">'  # only for a logged-in visitor


@pytest.fixture
def viewer_client(alice, bob) -> Client:
    """bob, a viewer of alice's team, with that team active."""
    team = Team.objects.create(name="Atelier", created_by=alice)
    Membership.objects.create(team=team, user=alice, role="owner")
    Membership.objects.create(team=team, user=bob, role="viewer")
    client = Client()
    client.force_login(bob)
    session = client.session
    session[SESSION_KEY] = str(team.code)
    session.save()
    return client


def test_the_tests_see_what_production_sees():
    assert settings.DEBUG is False


@pytest.mark.django_db
def test_a_viewers_forbidden_action_shows_the_reason_in_the_layout(viewer_client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = viewer_client.post(reverse("collections"), {"name": "Board"})

    assert response.status_code == 403
    page = response.content.decode()
    assert HEADER in page and NAV in page and 'data-testid="error-403"' in page
    assert "Only members can create collections in this team." in page
    # Logged as a warning with the reason, without a traceback: a refusal is not a crash.
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.WARNING and record.status_code == 403
    assert record.exc_info is None and record.exc_text is None
    assert record.reason == "Only members can create collections in this team."


@pytest.mark.django_db
def test_an_unknown_address_gets_the_404_page_in_the_layout(client, alice):
    client.force_login(alice)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert HEADER in page and NAV in page and 'data-testid="error-404"' in page
    assert "Page not found" in page


@pytest.mark.django_db
def test_a_csrf_failure_gets_a_page_in_the_layout_that_says_what_to_do(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(reverse("collections"), {"name": "Board"})
    assert response.status_code == 403
    page = response.content.decode()
    assert HEADER in page and NAV in page and 'data-testid="error-csrf"' in page
    assert "reload the page" in page and "Nothing was changed." in page


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.project.error_urls")
def test_an_uncaught_error_gets_the_500_page_in_the_layout(alice, caplog):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/broken/")
    assert response.status_code == 500
    page = response.content.decode()
    assert HEADER in page and 'data-testid="error-500"' in page and "Something went wrong" in page
    assert "a bug in a view" not in page and "Traceback" not in page
    assert any(r.exc_info for r in caplog.records if r.name == "django.request")  # the operators see it
    assert f"Reference: <code>{response['X-Request-ID']}</code>" in page


def test_the_500_page_needs_no_database_and_no_request_context():
    """No ``django_db`` mark here: any database query would fail this test."""
    response = server_error(RequestFactory().get("/anything/"))
    assert response.status_code == 500
    page = response.content.decode()
    assert HEADER in page and 'data-testid="error-500"' in page and NAV not in page
