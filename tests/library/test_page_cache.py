"""What a library page takes from the cache (header spend, provider pause, collection names) changes at once
when its data does: each change below is made by a real service (or view), then the next page shows it."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from credits.services import ledger_charge_images, ledger_refund, spend_rollup_rebuild
from generations.models import ProviderPause
from generations.services import provider_pause_clear, provider_pause_start
from library.models import Collection
from tests.library.factories import logged_in, make_image, make_team

pytestmark = pytest.mark.django_db

SPENT = re.compile(r'data-testid="credits-total"[^>]*>([^<]*) spent<')
MENU = re.compile(r'<select name="collection" id="id_collection">(.*?)</select>', re.S)
OPTIONS = re.compile(r'<option value="[0-9a-f-]{36}"[^>]*>([^<]*)</option>')


def page(client, name: str = "my_images") -> str:
    response = client.get(reverse(name))
    assert response.status_code == 200
    return response.content.decode()


def spent(html: str) -> str:
    return SPENT.search(html).group(1)


def collection_names(html: str) -> set[str]:
    """The boards in the page's "Collection" filter menu."""
    return set(OPTIONS.findall(MENU.search(html).group(1)))


def test_a_new_charge_or_refund_shows_in_the_header_at_once(client, alice):
    image = make_image(alice)
    logged_in(client, alice)
    assert spent(page(client)) == "0 credits"
    assert spent(page(client)) == "0 credits"  # now from the cache
    ledger_charge_images(generation=image.generation, images=[image], credits=Decimal("2.5"))
    assert spent(page(client)) == "2.5 credits"
    ledger_refund(actor=alice, user=alice, credits=Decimal("1"), note="test", generation=image.generation)
    assert spent(page(client)) == "1.5 credits"


def test_rebuilding_the_roll_ups_shows_in_the_header_at_once(client, alice):
    image = make_image(alice)
    ledger_charge_images(generation=image.generation, images=[image], credits=Decimal("3"))
    logged_in(client, alice)
    assert spent(page(client)) == "3 credits"
    from credits.models import DailySpend

    DailySpend.objects.all().delete()  # a broken roll-up (as after a bulk import) …
    assert spent(page(client)) == "3 credits"  # … not seen while cached …
    spend_rollup_rebuild()  # … and the repair is seen at once
    assert spent(page(client)) == "3 credits"
    DailySpend.objects.all().delete()
    spend_rollup_rebuild()
    assert spent(page(client)) == "3 credits"


def test_a_pause_shows_and_goes_at_once(client, alice):
    logged_in(client, alice)
    assert 'data-testid="pause-banner"' not in page(client)
    assert 'data-testid="pause-banner"' not in page(client)  # "no pause" is cached too
    provider_pause_start(code="quota_exceeded", message="Quota exhausted.")
    assert 'data-testid="pause-banner"' in page(client)
    provider_pause_clear(user=alice)
    assert 'data-testid="pause-banner"' not in page(client)


def test_a_pause_edited_in_the_admin_or_over_by_time_is_seen_at_once(client, alice):
    logged_in(client, alice)
    pause = ProviderPause.objects.create(
        code="quota_exceeded", message="Quota", paused_until=timezone.now() + timedelta(hours=1)
    )
    assert 'data-testid="pause-banner"' in page(client)
    pause.cleared_at = timezone.now()
    pause.save()  # as the admin's change form does
    assert 'data-testid="pause-banner"' not in page(client)
    pause.cleared_at = None
    pause.save()
    assert 'data-testid="pause-banner"' in page(client)
    pause.delete()
    assert 'data-testid="pause-banner"' not in page(client)


def test_a_cached_pause_is_not_shown_past_its_end(client, alice):
    logged_in(client, alice)
    ProviderPause.objects.create(
        code="quota_exceeded", message="Quota", paused_until=timezone.now() + timedelta(seconds=1.5)
    )
    assert 'data-testid="pause-banner"' in page(client)
    time.sleep(1.6)  # the pause runs out: nothing is written, the cached pause has to notice by itself
    assert 'data-testid="pause-banner"' not in page(client)


def test_collections_created_renamed_and_deleted_show_at_once(client, alice, bob):
    team = make_team(alice, member=bob)
    make_image(alice, team=team)
    make_image(alice)
    logged_in(client, alice, team)
    assert collection_names(page(client, "team_library")) == set()
    assert collection_names(page(client)) == set()

    response = client.post(reverse("collections"), {"name": "Team picks"})  # in the active team
    assert response.status_code == 302
    assert collection_names(page(client, "team_library")) == {"Team picks"}
    assert collection_names(page(client)) == set()  # personal boards only on My images

    board = Collection.objects.get(name="Team picks")
    edit = reverse("collection_edit", args=[board.code])
    client.post(edit, {"operation": "rename", "name": "Client picks"})
    assert collection_names(page(client, "team_library")) == {"Client picks"}

    # Another member's change to the team's boards reaches alice's cached page too.
    other = logged_in(type(client)(), bob, team)
    other.post(reverse("collections"), {"name": "Bob board"})
    assert collection_names(page(client, "team_library")) == {"Client picks", "Bob board"}

    client.post(edit, {"operation": "delete"})
    assert collection_names(page(client, "team_library")) == {"Bob board"}


def test_personal_collections_are_each_users_own(client, alice, bob):
    logged_in(client, alice)
    assert collection_names(page(client)) == set()
    client.post(reverse("collections"), {"name": "Alice only"})
    assert collection_names(page(client)) == {"Alice only"}
    other = logged_in(type(client)(), bob)
    assert collection_names(page(other)) == set()


def test_a_removed_member_is_refused_at_once_though_sessions_and_pages_use_the_cache(client, alice, bob):
    """Sessions are read through the cache (``SESSION_STORE=cached_db``) and the page's header values come
    from it; what a member may see never does: the request after the removal is refused."""
    from django.conf import settings

    from teams.models import Membership
    from teams.services import membership_remove

    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.cached_db"
    team = make_team(alice, member=bob)
    image = make_image(alice, team=team, prompt="a team secret lighthouse")
    logged_in(client, bob, team)
    for _ in range(2):  # the second time the session (and the header's values) come from the cache
        assert "a team secret lighthouse" in page(client, "team_library")
        assert client.get(reverse("image_detail", args=[image.code])).status_code == 200
    membership_remove(actor=alice, membership=Membership.objects.get(team=team, user=bob))

    response = client.get(reverse("team_library"))
    assert response.status_code == 302 and response.url == reverse("my_images")
    assert "a team secret lighthouse" not in client.get(reverse("my_images")).content.decode()
    assert client.get(reverse("image_detail", args=[image.code])).status_code == 404
    fragment = client.get(reverse("team_library"), {"fragment": "1"})
    assert fragment.status_code == 302
