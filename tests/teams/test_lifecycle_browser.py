"""A team's life in a real headless Chromium: accept from the Teams page, delete with typed confirmation."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from playwright.sync_api import expect

from credits.models import LedgerEntry
from credits.services import ledger_charge_images
from generations.models import Image
from teams import services
from teams.models import Role, Team
from tests.browser import assert_page_fits, log_in, open_menu
from tests.library.factories import make_image
from tests.teams import make_team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_accepting_from_the_teams_page_switches_the_header_to_the_team(page, live_server, alice, bob):
    team = make_team(alice, name="Night shift")
    services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.MEMBER)
    page.set_viewport_size({"width": 390, "height": 800})
    log_in(page, live_server, "bob", next_path="/teams/")
    expect(page.locator("nav a", has_text="Team library")).to_have_count(0)
    row = page.get_by_test_id("my-invitations").locator("tr[data-invitation-team='Night shift']")
    expect(row.get_by_role("button", name="Decline the invitation to Night shift")).to_be_visible()
    assert_page_fits(page)
    row.get_by_role("button", name="Accept the invitation to Night shift").focus()
    page.keyboard.press("Enter")  # by keyboard
    expect(page.locator(".flash")).to_contain_text("You joined as member and are now working in the team.")
    expect(page.get_by_test_id("team-switcher").locator("option:checked")).to_have_text("Night shift")
    open_menu(page)  # the header's menu is folded on phones
    page.locator("nav a", has_text="Team library").click()
    expect(page.locator("h1")).to_contain_text("Night shift library")


def test_declining_from_the_teams_page_removes_the_invitation(page, live_server, alice, bob):
    team = make_team(alice, name="Night shift")
    services.invitation_create(team=team, inviter=alice, invitee="bob", role=Role.VIEWER)
    log_in(page, live_server, "bob", next_path="/teams/")
    page.get_by_role("button", name="Decline the invitation to Night shift").click()
    expect(page.locator(".flash.info")).to_have_text("You declined the invitation to Night shift.")
    expect(page.get_by_test_id("my-invitations")).to_have_count(0)


def test_the_owner_deletes_a_team_after_reading_what_goes_and_typing_its_name(page, live_server, alice, bob):
    team = make_team(alice, name="Doomed", bob=Role.MEMBER)
    image = make_image(alice, team=team, with_files=True)
    ledger_charge_images(generation=image.generation, images=[image], credits=2)
    page.set_viewport_size({"width": 390, "height": 800})
    log_in(page, live_server, "alice", next_path=reverse("teams:detail", args=[team.code]))
    expect(page.get_by_test_id("leave-reason")).to_contain_text("You are the only owner of Doomed")
    expect(page.get_by_role("button", name="Leave Doomed")).to_be_disabled()
    expect(page.get_by_test_id("transfer-panel")).to_contain_text("Make owner and become admin")
    assert_page_fits(page)
    page.get_by_test_id("delete-link").click()

    expect(page.get_by_test_id("delete-summary")).to_have_text(
        "1 image (and its file) and 0 collections will be deleted, with the team's members, pending "
        "invitations and budgets."
    )
    expect(page.get_by_test_id("delete-ledger")).to_contain_text(
        "The credits ledger (1 entry, 2 credits spent)"
    )
    assert_page_fits(page)
    page.fill("#id_confirm", "doomed")
    page.get_by_role("button", name="Delete Doomed").click()
    expect(page.locator("#confirm-error")).to_have_text("Type Doomed exactly as shown to delete the team.")
    assert Team.objects.get().deleted_at is None

    page.fill("#id_confirm", "Doomed")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}{reverse('teams:list')}")
    expect(page.locator(".flash")).to_contain_text("Deleted Doomed.")
    expect(page.get_by_test_id("team-switcher")).to_have_count(0)  # no teams left to switch between
    assert Team.objects.get().deleted_at is not None and not Image.objects.exists()
    assert not default_storage.exists(image.file.name) and LedgerEntry.objects.count() == 1
