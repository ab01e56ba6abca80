"""README's three pictures, taken from the running app: create with live cards, team library, team credits.

``bin/screenshots`` runs this module with ``PIXELGALLERY_SCREENSHOTS_DIR`` set, then copies the pictures into
docs/screenshots for the README. In the normal suite they go to a temporary folder, so what they show is
checked on every run: the cards fill in live through a real worker and the sandbox, the team library holds the
stored images, the credits page carries the team's spend. Each picture is taken at 1280 px and at 390 px.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from credits.models import LedgerEntry
from credits.services import budget_set, spend_rollup_rebuild
from generations.models import Generation, Image
from generations.pixeldojo import GenerationRequest
from generations.services import generation_submit
from tests.conftest import PASSWORD, wait_for
from tests.credits.helpers import at, days_ago
from tests.library.factories import make_team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
TALLEST = 1700  # px of page in one picture, so a long library stays a picture of its top
TEAM = "Studio North"
# (prompt, model, aspect ratio, who, days ago): made through the worker, then dated back for the chart
PROMPTS = [
    ("a lighthouse on a basalt cliff at dawn, long exposure", "flux-1.1-pro", "16:9", "alice", 0),
    ("isometric cutaway of a tiny ramen shop, warm light", "flux-pro", "1:1", "bob", 0),
    ("a fox curled up in fresh snow, soft morning haze", "flux-1.1-pro-ultra", "3:2", "alice", 1),
    ("brutalist concert hall in a pine forest, fog", "flux-pro", "4:5", "bob", 3),
    ("concept sketch of a spring lookbook cover, pastel", "flux-pro", "2:3", "alice", 6),
    ("macro photo of dew on a spider web, backlit", "flux-1.1-pro", "1:1", "bob", 9),
]
LIVE_PROMPT = "a paper boat on a rain-soaked street, neon reflections"


@pytest.fixture
def screenshots_dir(tmp_path) -> Path:
    """Where the pictures go: the folder ``bin/screenshots`` names, else a temporary one."""
    chosen = os.environ.get("PIXELGALLERY_SCREENSHOTS_DIR")
    folder = Path(chosen) if chosen else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(page, folder: Path, name: str) -> list[Path]:
    """The current page at both widths, down to ``TALLEST`` px; returns the files."""
    files = []
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("window.scrollTo(0, 0)")
        path = folder / f"{name}-{label}.png"
        height = min(page.evaluate("document.documentElement.scrollHeight"), TALLEST)
        clip = {"x": 0, "y": 0, "width": width, "height": height}
        page.screenshot(path=str(path), full_page=True, clip=clip)
        assert path.stat().st_size > 10_000, path  # a real picture, not a blank page
        files.append(path)
    page.set_viewport_size({"width": WIDTHS["desktop"][0], "height": WIDTHS["desktop"][1]})
    return files


def test_readme_screenshots(page, live_server, celery_worker, sandbox, screenshots_dir, alice, bob):
    team = make_team(alice, name=TEAM, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=120)
    people = {"alice": alice, "bob": bob}
    for prompt, model, aspect_ratio, who, _ in PROMPTS:
        generation_submit(
            user=people[who],
            params=GenerationRequest(prompt=prompt, model=model, aspect_ratio=aspect_ratio, num_outputs=2),
            team=team,
        )
    stored = 2 * len(PROMPTS)
    wait_for(lambda: Image.objects.filter(team=team, status="stored").count() == stored, timeout=90)
    for prompt, *_, days in PROMPTS:
        if days:
            when = at(days_ago(days), hour=15)
            LedgerEntry.objects.filter(generation__prompt=prompt).update(created_at=when)
            Generation.objects.filter(prompt=prompt).update(created_at=when)
            Image.objects.filter(generation__prompt=prompt).update(created_at=when)
    spend_rollup_rebuild()

    page.goto(f"{live_server.url}/accounts/login/?next=/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_test_id("team-switcher").select_option(label=TEAM)
    expect(page.get_by_test_id("active-role")).to_be_visible()

    # Create, while the newest card is still being made (the sandbox answers slowly) and the others are done.
    sandbox.configure(latency_seconds=8)
    page.fill("#id_prompt", LIVE_PROMPT)
    page.select_option("#id_num_outputs", "2")
    page.click("button:has-text('Generate')")
    newest = page.locator("article.card").first
    expect(newest.get_by_test_id("status")).to_have_text("Generating", timeout=10_000)
    expect(page.locator("article.card").nth(1).get_by_test_id("status")).to_have_text("Done")
    shoot(page, screenshots_dir, "create")
    expect(newest.get_by_test_id("status")).to_have_text("Done", timeout=30_000)
    sandbox.configure(latency_seconds=0)

    page.goto(f"{live_server.url}{reverse('team_library')}")
    expect(page.locator("h1")).to_contain_text(TEAM)
    wait_for(lambda: Generation.objects.get(prompt=LIVE_PROMPT).status == "done", timeout=30)
    page.reload()
    tiles = page.locator("[data-testid=library-grid] img")
    expect(tiles).to_have_count(stored + 2)
    for index in range(stored + 2):
        assert tiles.nth(index).evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    shoot(page, screenshots_dir, "team-library")

    page.goto(f"{live_server.url}{reverse('credits:team')}")
    expect(page.locator("svg[role=img]").first).to_be_visible()
    expect(page.locator("main")).to_contain_text("120")  # the budget
    shoot(page, screenshots_dir, "team-credits")
