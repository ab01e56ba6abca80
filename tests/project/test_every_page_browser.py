"""Every page in Chromium, as a team owner, a viewer and a visitor who is not logged in: no sideways scroll
at 390 and 1280 px, chart labels of 11 px or more, and axe-core (bundled by axe-playwright-python, injected
with ``page.evaluate``: no CDN) finds no serious or critical violation in the light and the dark colour
scheme. The keyboard alone opens the phone menu, reaches every link of it, submits a prompt and switches team.

The pages come from the permission matrix's ``EXPECTED`` table (itself checked against the URL resolver):
every named URL whose GET answers the persona a whole HTML page is visited, so a new page is covered as
soon as it has its expected answers there, and a new URL without them fails here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from generations.imaging import make_thumbnail
from generations.models import Generation
from tests.browser import open_menu
from tests.library.factories import png_bytes
from tests.project.test_time_on_pages import check_page
from tests.test_permission_matrix import (  # noqa: F401 - `world` is a fixture used by name
    API_EXPECTED,
    EXPECTED,
    World,
    app_url_names,
    client_for,
    fill,
    url_for,
    world,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE, DESKTOP = 390, 1280
HEIGHT = 844
BLOCKING = ("serious", "critical")
AXE = Axe()


@dataclass(frozen=True)
class Page:
    name: str
    url: str
    status: int


def pages_for(site: World, persona: str) -> list[Page]:
    """Every named URL whose GET answers this persona with a whole HTML page (error pages included)."""
    assert sorted([*EXPECTED, *API_EXPECTED]) == app_url_names(), "a URL without answers in the matrix"
    client = client_for(site, persona)
    found = []
    for name, case in sorted(EXPECTED.items()):
        url = url_for(site, name, case)
        if case.method == "GET" and case.data:  # e.g. the images to compare
            url += "?" + urlencode([(key, fill(site, value)) for key, value in case.data])
        response = client.get(url)
        if response.streaming or not response["Content-Type"].startswith("text/html"):
            continue
        if b"<html" in response.content:
            found.append(Page(name, url, response.status_code))
    return found


def log_in_browser(browser, live_server, site: World, persona: str):
    """A browser context holding the persona's session (with the team picked), at phone width."""
    client = client_for(site, persona)
    context = browser.new_context(viewport={"width": PHONE, "height": HEIGHT})
    if persona == "anonymous":
        return context
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return context


def overflow(page) -> str | None:
    """Why the page scrolls sideways (the outermost elements that stick out), or None when it does not."""
    return page.evaluate(
        """() => {
          const width = window.innerWidth;
          if (document.documentElement.scrollWidth <= width) return null;
          const sticksOut = (el) => el.getBoundingClientRect().right > width + 0.5;
          const clipped = (el) => {
            for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
              if (getComputedStyle(up).overflowX !== "visible") return true;
            }
            return false;
          };
          const culprits = [...document.querySelectorAll("body *")]  // outermost, not in a scroller
            .filter((el) => sticksOut(el) && !sticksOut(el.parentElement) && !clipped(el))
            .slice(0, 5)
            .map((el) => {
              const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "");
              const right = Math.round(el.getBoundingClientRect().right);
              return `${name}.${[...el.classList].join(".")} right=${right}`;
            });
          return `scrollWidth ${document.documentElement.scrollWidth} > ${width}: ${culprits.join(", ")}`;
        }"""
    )


def blocking_violations(page) -> list[str]:
    """axe-core's serious and critical violations, one readable line per rule and element."""
    results = AXE.run(page).response
    lines = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"][:5]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"{violation['id']} ({violation['impact']}) at {node['target']}: {summary}")
    return lines


def legible_chart_labels(page) -> list[str]:
    """Chart axis labels rendered smaller than 11 px on screen."""
    return page.evaluate(
        """() => [...document.querySelectorAll("svg .axis-label")]
          .map((el) => ({text: el.textContent, px: parseFloat(getComputedStyle(el).fontSize)
                          * el.ownerSVGElement.getScreenCTM().a}))
          .filter((label) => label.px < 10.95)
          .map((label) => `${label.text}: ${label.px.toFixed(1)} px`)"""
    )


def layout_problems(page, where: str) -> list[str]:
    """Sideways scroll and illegible chart labels on the page as it is now."""
    why = overflow(page)
    return ([f"{where}: {why}"] if why else []) + [
        f"{where}, small chart label {label}" for label in legible_chart_labels(page)
    ]


@pytest.fixture
def site(world: World) -> World:  # noqa: F811 - the matrix's fixture, by name
    """The permission matrix's world, with a real thumbnail and a failed generation; the owner is also staff
    (for the operations page)."""
    image = world.image
    default_storage.delete(image.thumbnail.name)
    image.thumbnail.name = default_storage.save("thumbnails/a.webp", ContentFile(make_thumbnail(png_bytes())))
    image.save()
    Generation.objects.create(
        user=world.users["owner"],
        team=world.team,
        prompt="a failed harbour",
        model="flux-pro",
        status="failed",
        error_message="PixelDojo refused the prompt.",
    )
    owner = world.users["owner"]
    owner.is_staff = True
    owner.save()
    return world


@pytest.mark.parametrize("persona", ["owner", "viewer", "anonymous"])
def test_every_page_fits_a_phone_and_passes_axe_in_light_and_dark(browser, live_server, site, persona):
    pages = pages_for(site, persona)
    names = {page.name for page in pages}
    if persona == "anonymous":
        assert {"login", "password_reset"} <= names, names
    else:
        assert {"gallery", "my_images", "teams:detail", "credits:mine", "collection_detail"} <= names, names
    if persona == "owner":
        assert {"credits:team", "operations", "library_compare", "teams:delete"} <= names, names

    context = log_in_browser(browser, live_server, site, persona)
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    try:
        for target in pages:
            where = f"{target.name} ({target.url}) as {persona}"
            page.set_viewport_size({"width": PHONE, "height": HEIGHT})
            page.emulate_media(color_scheme="light")
            response = page.goto(live_server.url + target.url)
            assert response.status == target.status, (where, response.status)
            problems += layout_problems(page, f"{where} at {PHONE} px")
            try:
                check_page(page.content(), where)  # dates and times only in the one <time> format
            except AssertionError as error:
                problems.append(str(error))
            open_menu(page)
            problems += [f"{where} at {PHONE} px, light: {line}" for line in blocking_violations(page)]
            problems += layout_problems(page, f"{where} at {PHONE} px, menu open")

            page.set_viewport_size({"width": DESKTOP, "height": HEIGHT})
            problems += layout_problems(page, f"{where} at {DESKTOP} px")
            page.emulate_media(color_scheme="dark")
            problems += [f"{where} at {DESKTOP} px, dark: {line}" for line in blocking_violations(page)]
    finally:
        context.close()
    assert not problems, "\n" + "\n".join(problems)


def focus_path(page, steps: int) -> list[str]:
    """Press Tab ``steps`` times; what each press focused (a link's path, or a control's tag and name)."""
    path = []
    for _ in range(steps):
        page.keyboard.press("Tab")
        path.append(
            page.evaluate(
                """() => { const el = document.activeElement;
                  return el.tagName === "A" ? new URL(el.href).pathname
                    : `${el.tagName.toLowerCase()}:${el.getAttribute("name") || el.textContent.trim()}`; }"""
            )
        )
    return path


def tab_to(page, reached: str, what: str) -> None:
    """Press Tab until the JavaScript condition ``reached`` holds (at most 40 times)."""
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate(reached):
            return
    pytest.fail(f"Tab never reached {what}")


def test_the_keyboard_opens_the_phone_menu_reaches_every_link_submits_a_prompt_and_switches_team(
    browser, live_server, site, celery_worker
):
    context = log_in_browser(browser, live_server, site, "owner")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(live_server.url + "/")
        nav_links = page.locator("nav.nav a").evaluate_all("all => all.map(a => new URL(a.href).pathname)")
        assert len(nav_links) >= 6
        expect(page.locator("nav.nav a").first).to_be_hidden()  # collapsed behind the Menu button

        path = focus_path(page, 3)
        toggle = page.locator("[data-menu-toggle]")
        assert toggle.evaluate("el => el === document.activeElement"), path
        expect(toggle).to_have_accessible_name("Menu")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        page.keyboard.press("Enter")
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(page.locator("nav.nav a").first).to_be_visible()
        assert focus_path(page, 1) == [nav_links[0]]
        page.keyboard.press("Escape")  # closes the menu and gives the focus back to its button
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(page.locator("nav.nav a").first).to_be_hidden()
        assert toggle.evaluate("el => el === document.activeElement")

        page.keyboard.press(" ")  # a button opens with Space as well
        expect(toggle).to_have_attribute("aria-expanded", "true")
        reached = focus_path(page, len(nav_links) + 6)
        assert set(nav_links) <= set(reached), reached
        assert overflow(page) is None

        # The prompt form, by keyboard only: Tab to the prompt, type, Tab on to Generate, press Enter.
        tab_to(page, "document.activeElement.id === 'id_prompt'", "the prompt box")
        page.keyboard.type("a lighthouse typed by keyboard")
        tab_to(page, "document.activeElement.textContent.trim() === 'Generate'", "the Generate button")
        page.keyboard.press("Enter")
        card = page.locator("article.card").filter(has_text="a lighthouse typed by keyboard")
        expect(card.get_by_test_id("status")).to_have_text("Done", timeout=30_000)
        assert Generation.objects.filter(prompt="a lighthouse typed by keyboard").count() == 1

        # The team switcher: arrow keys only choose (no page load per step); the Switch button then switches.
        page.goto(live_server.url + "/")
        focus_path(page, 3)
        page.keyboard.press("Enter")
        tab_to(page, "document.activeElement.id === 'team-switcher-select'", "the team switcher")
        page.keyboard.press("ArrowUp")
        switch = page.locator("[data-switch-button]")
        expect(switch).to_be_visible()
        expect(page.get_by_test_id("active-role")).to_have_text("Owner")  # still in the team: nothing sent
        page.keyboard.press("Tab")
        assert switch.evaluate("el => el === document.activeElement")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("active-role")).to_have_count(0)
        expect(page.get_by_test_id("team-switcher").locator("option:checked")).to_have_text("Personal")
    finally:
        context.close()
