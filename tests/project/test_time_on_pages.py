"""Every date or time a page shows sits in a ``<time datetime>`` element, in the site's one format.

The main pages are rendered with data that puts moments on them (recent, last year, a pause, a balance, budget
alerts, invitations); the text a person reads outside ``<time>`` elements must hold no date or time. SVG text
(the chart's axis labels and tooltips) cannot hold HTML elements; its day list is the table under the chart.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from credits.models import ProviderBalance
from credits.services import budget_alerts_check, budget_set
from generations.models import Generation, ProviderPause
from teams.services import invitation_create
from tests.credits.helpers import charge, client_in
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db

MONTH = (
    r"\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b"
)
LOOKS_LIKE_TIME = re.compile(
    "|".join(
        [
            MONTH,
            r"\b\d{4}-\d{2}-\d{2}\b",  # 2026-12-01
            r"\b\d{2}:\d{2}\b",  # 06:18 (aspect ratios such as 16:9 or 9:16 do not match)
            r"\b\d{1,2}(?::\d{2})?\s*(?i:[ap]\.?m\.?)(?!\w)",  # 6:18 a.m.
            r"(?i:\bago\b|\bjust now\b|\byesterday\b)",
        ]
    )  # month names are matched case-sensitively: "may" is a word too
)
ONE_FORMAT = re.compile(
    r"just now|[1-9]\d* min ago|[1-9]\d* h ago|yesterday, \d{2}:\d{2}"
    r"|[1-9]\d? [A-Z][a-z]{2} \d{4}(?:, \d{2}:\d{2})?|[A-Z][a-z]{2} \d{4}"
)


class Reader(HTMLParser):
    """The body's text outside <time>, <script>, <style> and <svg>; and every <time> with its attributes."""

    SKIP = {"time", "script", "style", "svg", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.outside: list[str] = []
        self.times: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "time":
            self.times.append({**dict(attrs), "text": ""})
        if tag in self.SKIP:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.SKIP and tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data):
        if not self.open:
            self.outside.append(data)
        elif self.open[-1] == "time":
            self.times[-1]["text"] += data


def read(html: str) -> Reader:
    reader = Reader()
    reader.feed(html)
    return reader


def check_page(html: str, url: str) -> int:
    """Assert the page shows time only in <time datetime> elements in the one format; the count of them."""
    reader = read(html)
    text = " ".join(" ".join(reader.outside).split())
    found = [match.group(0) for match in LOOKS_LIKE_TIME.finditer(text)]
    assert not found, f"{url}: dates or times outside <time>: {found} in {text!r}"
    for element in reader.times:
        shown = " ".join(element["text"].split())
        assert ONE_FORMAT.fullmatch(shown), f"{url}: {shown!r} is not in the site's format"
        stamp = element.get("datetime") or ""
        if "T" in stamp:  # a moment: ISO 8601 with its offset, the exact time on hover
            assert datetime.fromisoformat(stamp).utcoffset() is not None, f"{url}: {stamp!r} has no offset"
            assert element.get("title", "").startswith(element.get("data-moment-absolute") or shown)
        elif len(stamp) == 7:  # a month
            date.fromisoformat(f"{stamp}-01")
        else:
            date.fromisoformat(stamp)
    return len(reader.times)


@pytest.fixture
def world(make_user):
    """Alice (staff, owner of Studio), Bob (a member), Carol (invited): moments on every page."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    alice.is_staff = True
    alice.save()
    team = make_team(alice, member=bob)
    recent = make_image(alice, team=team, prompt="a harbour at dusk", with_files=True)
    older = make_image(alice, team=team, prompt="a lighthouse", days_ago=1.2, with_files=True)
    make_image(alice, prompt="an old fox", days_ago=400, with_files=True)
    make_image(alice, prompt="a lost image", status="failed")
    Generation.objects.create(
        user=alice, prompt="an odd answer", status="failed", provider_answer="{}", error_code="no_images"
    )
    Generation.objects.create(user=alice, prompt="too many", status="done", answer_anomaly="1 extra image")
    charge(alice, team=team, n=3, prompt="a charged prompt")
    budget_set(actor=alice, team=team, monthly_credits=2)
    budget_alerts_check(team_id=team.id, user_id=alice.id)
    ProviderBalance.objects.create(credits=120, reported_at=timezone.now() - timedelta(hours=2))
    ProviderPause.objects.create(message="Quota exceeded", paused_until=timezone.now() + timedelta(hours=1))
    invitation = invitation_create(team=team, inviter=alice, invitee="carol", role="member")
    return {
        "alice": alice,
        "carol": carol,
        "team": team,
        "image": recent,
        "older": older,
        "invitation": invitation,
    }


def test_every_date_on_the_main_pages_is_a_time_element(world):
    alice, team, image = world["alice"], world["team"], world["image"]
    client = client_in(alice, team)
    pages = [
        reverse("gallery"),
        reverse("generation_detail", args=[image.generation.code]),
        reverse("my_images"),
        reverse("team_library"),
        reverse("image_detail", args=[image.code]),
        reverse("credits:mine"),
        reverse("credits:team"),
        reverse("teams:list"),
        reverse("teams:detail", args=[team.code]),
        reverse("operations"),
        f"{reverse('library_compare')}?images={image.code},{world['older'].code}",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "0 minutes" not in html and "0 min ago" not in html
        assert check_page(html, url) >= 1, f"{url} shows no time at all: the data should put one there"

    join = reverse("teams:join", args=[world["invitation"].token])
    response = client_in(world["carol"]).get(join)
    assert response.status_code == 200
    assert check_page(response.content.decode(), join) >= 1


def test_the_checker_sees_dates_outside_time_elements():
    """The page check itself: each old format is caught, a <time> in the one format passes."""
    for shown in ["Dec 1", "2026-12-01 06:18", "Dec. 1, 2026, 6:18 a.m.", "0 minutes ago", "Tue 1 Dec"]:
        with pytest.raises(AssertionError):
            check_page(f"<body><p>Created {shown}</p></body>", "/")
    ok = '<body><p>Created <time datetime="2026-12-01T06:18:00+00:00" title="1 Dec 2026, 06:18 UTC">'
    assert check_page(ok + "1 Dec 2026, 06:18</time>, 16:9, 9:16</p></body>", "/") == 1
    with pytest.raises(AssertionError):
        check_page('<body><time datetime="2026-12-01">Dec 1</time></body>', "/")
