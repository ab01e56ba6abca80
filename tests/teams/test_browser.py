"""Teams in a real headless Chromium: create a team, invite, join by link, switch to it in the header."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from teams.models import Invitation, Membership
from tests.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_alice_invites_bob_who_joins_and_switches_to_the_team(browser, page, live_server, alice, bob):
    log_in(page, live_server, "alice", next_path="/teams/")
    page.fill("#id_name", "Night shift")
    page.click("button:has-text('Create team')")
    expect(page.get_by_test_id("team-name")).to_have_text("Night shift")
    expect(page.get_by_test_id("my-role")).to_have_text("You are owner")

    page.fill("#id_invitee", "bob")
    page.select_option("#id_role", "member")
    page.click("button:has-text('Invite')")
    expect(page.locator(".flash")).to_contain_text("Invited bob")
    link = page.get_by_test_id("invite-link").input_value()
    assert link == f"{live_server.url}/teams/join/{Invitation.objects.get().token}/"

    bob_context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        bob_page = bob_context.new_page()
        bob_page.set_default_timeout(20_000)
        log_in(bob_page, live_server, "bob", next_path=link.removeprefix(live_server.url))
        expect(bob_page.get_by_test_id("join-team")).to_have_text("Night shift")
        expect(bob_page.get_by_test_id("join-role")).to_have_text("member")
        bob_page.click("button:has-text('Accept and join')")
        expect(bob_page.locator(".flash")).to_contain_text(
            "Welcome to Night shift! You joined as member and are now working in the team."
        )
        expect(bob_page.locator("tr[data-member=bob] [data-testid=role]")).to_have_text("Member")
        expect(bob_page.get_by_test_id("invite-panel")).to_have_count(0)  # members get no controls

        switcher = bob_page.get_by_test_id("team-switcher")
        expect(switcher.locator("option:checked")).to_have_text("Night shift")  # joining switched to it
        expect(bob_page.get_by_test_id("active-role")).to_have_text("Member")
        expect(bob_page.locator("[data-switch-button]")).to_be_hidden()  # JavaScript submits on change
        switcher.select_option(label="Personal")
        expect(switcher.locator("option:checked")).to_have_text("Personal")
        expect(bob_page.get_by_test_id("active-role")).to_have_count(0)
        switcher.select_option(label="Night shift")
        expect(bob_page.get_by_test_id("active-role")).to_have_text("Member")
        expect(switcher.locator("option:checked")).to_have_text("Night shift")
        expect(bob_page.get_by_test_id("team-name")).to_have_text("Night shift")  # back on the same page
    finally:
        bob_context.close()

    assert Membership.objects.get(user=bob).role == "member"
    page.reload()
    expect(page.locator("tr[data-member=bob]")).to_contain_text("bob")
    expect(page.get_by_test_id("invitations")).to_have_count(0)  # the used invitation is no longer pending
