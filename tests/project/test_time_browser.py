"""static/js/time.js in Chromium: relative times follow the clock while the page stays open."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from generations.models import Generation
from pixelgallery.moments import exact_text, relative_text
from tests.conftest import PASSWORD
from tests.library.factories import make_image


@pytest.fixture
def console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_relative_times_refresh_every_minute_by_the_servers_rules(
    page, live_server, console_errors, alice, settings, zone
):
    settings.TIME_ZONE = zone
    image = make_image(alice, prompt="a harbour at dusk", with_files=True)
    created = timezone.now() - timedelta(seconds=20)
    Generation.objects.filter(id=image.generation_id).update(created_at=created)
    page.clock.install(time=timezone.now())
    page.goto(f"{live_server.url}/accounts/login/?next=/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    shown = page.locator(f"#gen-{image.generation.code} time")
    expect(shown).to_have_text("just now")
    with timezone.override(ZoneInfo(zone)):
        expect(shown).to_have_attribute("title", exact_text(created))  # the exact time on hover

    page.clock.fast_forward("02:00")
    expect(shown).to_have_text("2 min ago")
    page.clock.fast_forward("03:00:00")  # now 3 h 2 min 20 s (and a few real seconds) after it
    with timezone.override(ZoneInfo(zone)):
        expected = relative_text(created, now=created + timedelta(hours=3, minutes=2, seconds=30))
    expect(shown).to_have_text(expected)
    page.clock.fast_forward("48:00:00")
    with timezone.override(ZoneInfo(zone)):
        expected = relative_text(created, now=created + timedelta(hours=51, minutes=3))
    assert "ago" not in expected and "yesterday" not in expected
    expect(shown).to_have_text(expected)
    assert console_errors == []


def test_pages_with_long_dates_fit_a_phone(page, live_server, console_errors, alice, bob):
    """The absolute format is longer than the old "Dec 1": tiles, cards and tables still fit 390 px."""
    from credits.services import budget_alerts_check, budget_set
    from generations.models import ProviderPause
    from teams.services import invitation_create
    from tests.credits.helpers import charge
    from tests.library.factories import make_team

    alice.is_staff = True
    alice.save()
    team = make_team(alice, member=bob)
    image = make_image(alice, team=team, prompt="a harbour at dusk " * 20, days_ago=400, with_files=True)
    make_image(alice, prompt="a lost image", status="failed", days_ago=30)
    charge(alice, team=team, n=3)
    budget_set(actor=alice, team=team, monthly_credits=2)
    budget_alerts_check(team_id=team.id, user_id=alice.id)
    ProviderPause.objects.create(message="Quota exceeded", paused_until=timezone.now() + timedelta(hours=1))
    invitation_create(team=team, inviter=alice, invitee="carol", role="member")
    page.goto(f"{live_server.url}/accounts/login/?next=/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_test_id("team-switcher").select_option(label="Studio")
    page.set_viewport_size({"width": 390, "height": 900})
    pages = [
        "/",
        f"/g/{image.generation.code}/",
        "/library/team/",
        f"/images/{image.code}/",
        "/credits/",
        "/ops/",
        "/credits/team/",
        f"/teams/{team.code}/",
    ]
    for url in pages:
        page.goto(f"{live_server.url}{url}")
        times = page.locator("main time")
        expect(times.first).to_be_attached()
        rights = times.evaluate_all("ts => ts.map(t => t.getBoundingClientRect().right)")
        assert max(rights) <= 390, (url, rights)
        overflow = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert overflow[0] <= overflow[1], (url, overflow)
    assert console_errors == []
