"""The team's ledger as CSV: streamed, every row of the date range (both days included), bad dates refused."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from credits.models import LedgerEntry
from credits.services import ledger_refund, ledger_top_up
from tests.credits.helpers import at, charge, client_in, days_ago
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db

EXPORT = reverse("credits:team_export")


@pytest.fixture
def team(alice, bob):
    return make_team(alice, member=bob)


def rows_of(response) -> list[list[str]]:
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_twenty_thousand_rows_are_streamed_one_line_each(alice, team):
    now = timezone.now()
    LedgerEntry.objects.bulk_create(
        (
            LedgerEntry(kind="charge", user=alice, team=team, model="flux-pro", credits=1, note=f"row {n}")
            for n in range(20_000)
        ),
        batch_size=5000,
    )
    LedgerEntry.objects.update(created_at=now)
    response = client_in(alice, team).get(EXPORT, {"from": days_ago(1), "to": days_ago(0)})
    assert response.status_code == 200
    assert response.streaming  # a StreamingHttpResponse: rows are written as they are read
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"]
        == f'attachment; filename="credits-{days_ago(1)}-to-{days_ago(0)}.csv"'
    )
    chunks = list(response.streaming_content)
    assert len(chunks) > 20_000 // 1000  # written in pieces, not as one document
    lines = b"".join(chunks).decode().splitlines()
    assert len(lines) == 1 + 20_000
    assert lines[0] == "date_time,kind,user,model,credits,generation,image,note"


def test_the_range_includes_both_days_and_only_this_team(alice, bob, team):
    elsewhere = make_team(bob, name="Elsewhere")
    inside_first = charge(alice, team=team, n=1, prompt="first day", day=days_ago(10))
    LedgerEntry.objects.filter(generation=inside_first).update(
        created_at=at(days_ago(10), hour=0)  # midnight at the start of the first day
    )
    charge(alice, team=team, n=2, prompt="before", day=days_ago(11))
    last = charge(bob, team=team, n=1, prompt="last day", day=days_ago(3))
    LedgerEntry.objects.filter(generation=last).update(
        created_at=at(days_ago(3), hour=23) + timedelta(minutes=59, seconds=59)
    )
    charge(alice, team=team, n=4, prompt="after", day=days_ago(2))
    charge(bob, team=elsewhere, n=3, day=days_ago(5))
    charge(alice, n=3, day=days_ago(5))  # personal
    ledger_refund(actor=alice, user=bob, team=team, credits=1, note="=HYPERLINK(1)", generation=last)
    LedgerEntry.objects.filter(kind="refund").update(created_at=at(days_ago(5)))
    ledger_top_up(actor=alice, team=team, credits=50, note="plan")
    LedgerEntry.objects.filter(kind="top_up").update(created_at=at(days_ago(4)))

    rows = rows_of(client_in(alice, team).get(EXPORT, {"from": days_ago(10), "to": days_ago(3)}))
    header, body = rows[0], rows[1:]
    assert header == ["date_time", "kind", "user", "model", "credits", "generation", "image", "note"]
    assert [(r[1], r[2], r[4]) for r in body] == [
        ("charge", "alice", "1"),
        ("refund", "bob", "-1"),
        ("top_up", "alice", "50"),
        ("charge", "bob", "1"),
    ]
    first = body[0]
    entry = LedgerEntry.objects.get(generation=inside_first)
    assert first[0] == timezone.localtime(entry.created_at).isoformat(timespec="seconds")
    assert first[3] == "flux-pro"
    assert first[5] == str(inside_first.code) and first[6] == str(entry.image.code)
    assert body[1][7] == "'=HYPERLINK(1)"  # a spreadsheet shows it, never runs it
    assert body[1][6] == "" and body[2][5] == ""


def test_without_dates_the_export_covers_this_month(alice, team):
    charge(alice, team=team, n=2)
    response = client_in(alice, team).get(EXPORT)
    today = timezone.localdate()
    assert f'filename="credits-{today.replace(day=1)}-to-{today}.csv"' in response["Content-Disposition"]
    assert len(rows_of(response)) == 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-13-01", "to": "2026-12-31"}, "Enter a real date as YYYY-MM-DD"),
        ({"from": "yesterday", "to": "2026-12-31"}, "Enter a real date as YYYY-MM-DD"),
        ({"from": "2026-11-05", "to": "2026-11-01"}, "The end date comes before the start date."),
        ({"from": "2026-11-01", "to": "05/11/2026"}, "Enter a real date as YYYY-MM-DD"),
    ],
)
def test_bad_dates_answer_400_with_the_reason_beside_the_field(alice, team, params, message):
    response = client_in(alice, team).get(EXPORT, params)
    assert response.status_code == 400
    assert not response.streaming
    html = response.content.decode()
    assert 'data-testid="export-error"' in html and message in html
    assert 'class="field has-error"' in html


@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-01-01", "9999-12-31"), ("0001-01-01", "9999-12-31"), ("0001-01-01", "0001-01-01")],
)
def test_dates_at_the_ends_of_the_calendar_export_what_lies_between(alice, team, start, end):
    charge(alice, team=team, n=1, prompt="inside", day=date(2026, 3, 4))
    response = client_in(alice, team).get(EXPORT, {"from": start, "to": end})
    assert response.status_code == 200
    rows = rows_of(response)
    assert len(rows) == (1 if end == "0001-01-01" else 2)  # the header, and the charge when it is inside
    assert f'filename="credits-{start}-to-{end}.csv"' in response["Content-Disposition"]
