"""The per-prompt daily roll-up behind the team's top prompts never drifts from the ledger."""

from __future__ import annotations

import importlib
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.apps import apps
from django.db import connections
from django.db.models import Sum

from credits.models import DailyPromptSpend, LedgerEntry
from credits.selectors import team_top_prompts
from credits.services import ledger_charge_images, ledger_refund, prompt_key, spend_rollup_rebuild
from tests.credits.helpers import charge, days_ago
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db

LONG_PROMPT = "a very detailed prompt " * 86  # ~2,000 characters: too long for a plain index


def ledger_by_prompt() -> Counter:
    rows = (
        LedgerEntry.objects.filter(
            kind__in=LedgerEntry.SPEND_KINDS, team__isnull=False, generation__isnull=False
        )
        .values_list("team_id", "generation__prompt")
        .annotate(total=Sum("credits"))
    )
    return Counter({(team, prompt): total for team, prompt, total in rows if total})


def rollup_by_prompt() -> Counter:
    rows = DailyPromptSpend.objects.values_list("team_id", "prompt").annotate(total=Sum("credits"))
    return Counter({(team, prompt): total for team, prompt, total in rows if total})


def rows() -> set[tuple]:
    return set(DailyPromptSpend.objects.values_list("day", "team_id", "prompt_key", "prompt", "credits"))


def test_charges_and_refunds_of_team_work_are_rolled_up_per_prompt(alice, bob):
    team, other = make_team(alice, member=bob), make_team(bob, name="Other")
    fox = charge(bob, team=team, n=3, prompt="a red fox")
    charge(alice, team=team, n=2, prompt="a red fox", model="flux-1.1-pro")
    charge(alice, team=team, n=1, prompt=LONG_PROMPT)
    charge(bob, team=other, n=4, prompt="a red fox")
    charge(alice, n=5, prompt="personal only")  # no team: not in the team roll-up
    image = make_image(bob, team=team, prompt="retried")
    ledger_charge_images(generation=image.generation, images=[image], credits=1)
    ledger_charge_images(generation=image.generation, images=[image], credits=1)  # a retry charges nothing
    ledger_refund(actor=alice, user=bob, team=team, credits=1, note="blurry", generation=fox)
    ledger_refund(actor=alice, user=bob, team=team, credits=1, note="goodwill")  # no generation, no prompt

    assert rollup_by_prompt() == ledger_by_prompt()
    assert rollup_by_prompt()[(team.id, "a red fox")] == 3 + 2 - 1
    assert rollup_by_prompt()[(other.id, "a red fox")] == 4
    assert DailyPromptSpend.objects.get(team=team, prompt=LONG_PROMPT).prompt_key == prompt_key(LONG_PROMPT)
    assert not DailyPromptSpend.objects.filter(prompt="personal only").exists()

    before = rows()
    spend_rollup_rebuild()
    assert rows() == before

    top = team_top_prompts(team_id=team.id, since=days_ago(29), until=days_ago(0))
    assert [(row.prompt, row.credits) for row in top] == [("a red fox", 4), (LONG_PROMPT, 1), ("retried", 1)]


def test_spend_on_other_days_lands_on_its_day(alice):
    team = make_team(alice)
    charge(alice, team=team, n=2, prompt="old", day=days_ago(40))
    charge(alice, team=team, n=1, prompt="old")
    assert dict(DailyPromptSpend.objects.values_list("day", "credits")) == {days_ago(40): 2, days_ago(0): 1}
    recent = team_top_prompts(team_id=team.id, since=days_ago(29), until=days_ago(0))
    assert [(row.prompt, row.credits) for row in recent] == [("old", 1)]


def test_the_migration_backfills_the_prompt_rollup_from_the_ledger(alice, bob):
    team = make_team(alice, member=bob)
    charge(bob, team=team, n=3, prompt="a red fox", day=days_ago(3))
    charge(alice, team=team, n=2, prompt="a harbour")
    expected = rows()
    DailyPromptSpend.objects.all().delete()
    migration = importlib.import_module("credits.migrations.0003_prompt_rollup_and_ledger_indexes")
    migration.backfill(apps, None)
    assert rows() == expected


@pytest.mark.django_db(transaction=True)
def test_simultaneous_charges_of_one_prompt_add_up_in_one_row(alice, bob):
    team = make_team(alice, member=bob)
    images = [make_image(alice if n % 2 else bob, team=team, prompt="a busy prompt") for n in range(12)]
    barrier = threading.Barrier(len(images))

    def charge_one(image) -> int:
        try:
            barrier.wait(timeout=10)
            return ledger_charge_images(generation=image.generation, images=[image], credits=1)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(images)) as pool:
        assert sum(pool.map(charge_one, images)) == 12
    assert DailyPromptSpend.objects.count() == 1
    assert DailyPromptSpend.objects.get().credits == 12 == ledger_by_prompt()[(team.id, "a busy prompt")]
