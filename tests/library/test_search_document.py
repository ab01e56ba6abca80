"""Prompt search reads each image's stored full-text document on PostgreSQL (written by the database on every
insert and prompt change, whoever writes the rows) and the prompt itself on SQLite."""

from __future__ import annotations

import pytest
from django.db import connection

from generations.models import Generation, Image
from library.filters import LibraryFilters
from library.selectors import library_page
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the stored document is PostgreSQL's (SQLite searches the prompt)",
)


def searched(user, team, q: str) -> list[str]:
    page = library_page(user=user, team=team, mine=False, filters=LibraryFilters(q=q))
    return sorted(image.generation.prompt for image in page.images)


def test_search_finds_prompts_by_word_in_a_team(alice):
    team = make_team(alice)
    make_image(alice, team=team, prompt="a lighthouse in a storm")
    make_image(alice, team=team, prompt="a quiet meadow")
    assert searched(alice, team, "lighthouse") == ["a lighthouse in a storm"]
    assert searched(alice, team, "meadow quiet") == ["a quiet meadow"]


@on_postgresql
def test_images_written_in_bulk_get_their_document_from_the_database(alice):
    team = make_team(alice)
    generation = Generation.objects.create(user=alice, team=team, prompt="harpsichords on the moon")
    Image.objects.bulk_create(
        Image(generation=generation, user=alice, team=team, index=n, provider_url="http://127.0.0.1:9/x.png")
        for n in range(2)
    )
    documents = list(Image.objects.filter(generation=generation).values_list("search_document", flat=True))
    assert documents == ["'harpsichord':1 'moon':4"] * 2
    assert searched(alice, team, "harpsichord") == ["harpsichords on the moon"] * 2


@on_postgresql
def test_a_changed_prompt_changes_its_images_documents(alice):
    team = make_team(alice)
    image = make_image(alice, team=team, prompt="a red fox")
    Generation.objects.filter(id=image.generation_id).update(prompt="a grey wolf")
    assert searched(alice, team, "wolf") == ["a grey wolf"]
    assert searched(alice, team, "fox") == []
