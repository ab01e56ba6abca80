"""Password change and reset pages: in the site's layout (not the admin's, which links non-staff to /admin/),
and the whole reset by e-mail works."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

HEADER = '<header class="topbar">'
NEW = "a new sea breeze 42"


@pytest.mark.parametrize(
    "name", ["password_reset", "password_reset_done", "password_reset_complete", "password_change_done"]
)
def test_each_page_is_in_the_site_layout(client, alice, name):
    client.force_login(alice)
    page = client.get(reverse(name)).content.decode()
    assert HEADER in page and "/admin/" not in page


def test_a_password_is_changed_in_the_site_layout(client, alice):
    client.force_login(alice)
    page = client.get(reverse("password_change")).content.decode()
    assert HEADER in page and 'name="old_password"' in page and "/admin/" not in page
    wrong = client.post(
        reverse("password_change"), {"old_password": "nope", "new_password1": "x", "new_password2": "x"}
    )
    assert wrong.status_code == 200 and b'class="error"' in wrong.content
    answer = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a new sea breeze 42",
            "new_password2": "a new sea breeze 42",
        },
    )
    assert answer.status_code == 302 and answer["Location"] == reverse("password_change_done")
    alice.refresh_from_db()
    assert alice.check_password(NEW)


def test_a_forgotten_password_is_reset_through_the_e_mailed_link(client, alice):
    alice.email = "alice@example.com"
    alice.save()
    answer = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert answer.status_code == 302 and answer["Location"] == reverse("password_reset_done")
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)

    form = client.get(link, follow=True)
    assert HEADER in form.content.decode() and b'name="new_password1"' in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW, "new_password2": NEW},
        follow=True,
    )
    assert (
        done.redirect_chain[-1][0] == reverse("password_reset_complete") and HEADER in done.content.decode()
    )
    alice.refresh_from_db()
    assert alice.check_password(NEW)

    again = client.get(link).content.decode()  # a used link says so, in the layout
    assert 'data-testid="reset-link-invalid"' in again and HEADER in again
