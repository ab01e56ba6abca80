"""tools/seeding.py, run as bench/seed_library.py: a team library written in bulk that the app browses like
one made through PixelDojo."""

from __future__ import annotations

import runpy
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from credits.models import DailySpend, LedgerEntry
from generations.models import Generation, Image
from library.models import Favourite
from teams.active import SESSION_KEY
from teams.models import Membership, Team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def static_sources(settings):
    """Pages render without collectstatic, whatever DJANGO_STATIC_MANIFEST says."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "seed_library.py"


def seed(**options) -> str:
    """Run the command-line script in this process (same test database): ``reset=True`` → ``--reset``."""
    argv = [f"--{name}" if value is True else f"--{name}={value}" for name, value in options.items()]
    out = StringIO()
    assert runpy.run_path(str(SCRIPT), run_name="seed_library")["main"](argv, out=out) == 0
    return out.getvalue()


def test_seeding_200_images_gives_a_browsable_team_library(client):
    output = seed(images=200, team="Seed Studio", members=3, batch=64, seed=7)

    team = Team.objects.get(name="Seed Studio")
    members = set(Membership.objects.filter(team=team).values_list("user_id", flat=True))
    assert len(members) == 3
    assert Membership.objects.get(team=team, user__username="seed-studio-1").role == "owner"

    images = Image.objects.filter(generation__isnull=False)
    assert Image.objects.count() == 200
    assert images.filter(team=team, generation__team=team).count() == 200
    assert not images.exclude(user=F("generation__user")).exists()  # the denormalised author matches
    assert set(images.values_list("user_id", flat=True)) <= members
    assert set(Generation.objects.values_list("user_id", flat=True)) <= members
    assert Generation.objects.filter(images__isnull=True).exclude(status="failed").count() == 0

    charges = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE)
    assert charges.count() == 200
    assert set(charges.values_list("image_id", flat=True)) == set(Image.objects.values_list("id", flat=True))
    assert charges.filter(user=F("image__user"), team=team, credits=1).count() == 200
    assert sum(DailySpend.objects.filter(team=team).values_list("credits", flat=True)) == 200  # in step
    assert "200 images" in output and "total time" in output

    member = get_user_model().objects.get(username="seed-studio-2")
    client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session[SESSION_KEY] = str(team.code)
    session.save()
    response = client.get(reverse("team_library"), secure=True)  # HTTPS: production settings redirect HTTP
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('data-testid="tile"') == 48
    assert 'data-testid="load-more"' in page


def test_timestamps_are_spread_and_auto_timestamps_come_back():
    seed(images=60, team="Spread", members=2, seed=3, days=365)

    created = sorted(Image.objects.values_list("created_at", flat=True))
    assert created[-1] - created[0] > timedelta(days=30)
    assert created[-1] <= timezone.now()
    assert Image._meta.get_field("created_at").auto_now_add
    assert Generation._meta.get_field("updated_at").auto_now
    assert LedgerEntry._meta.get_field("created_at").auto_now_add


def test_reset_replaces_the_teams_data_and_the_same_seed_gives_the_same_prompts():
    seed(images=40, team="Again", members=2, seed=5)
    first = sorted(Generation.objects.values_list("prompt", flat=True))

    seed(images=40, team="Again", members=2, seed=5, reset=True)

    assert Team.objects.filter(name="Again").count() == 1
    assert Image.objects.count() == 40
    assert LedgerEntry.objects.count() == 40
    assert sum(DailySpend.objects.values_list("credits", flat=True)) == 40
    assert sorted(Generation.objects.values_list("prompt", flat=True)) == first


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="--scale writes with PostgreSQL's generate_series"
)
@pytest.mark.django_db(transaction=True)  # it ends with VACUUM, which runs outside a transaction only
def test_scale_seeding_writes_teams_side_by_side_that_the_library_pages_read(client):
    output = seed(scale=True, sizes="40,60", personal=20, members=3, seed=3)

    assert {team.name: team.images.count() for team in Team.objects.all()} == {"Scale 40": 40, "Scale 60": 60}
    stored = Image.objects.filter(status=Image.Status.STORED)
    assert stored.exists()
    assert not stored.filter(Q(thumbnail="") | Q(thumbnail_small="")).exists()
    assert not Image.objects.filter(search_document__isnull=True).exists()  # the database writes it
    favourites = Favourite.objects.all()
    assert favourites.exists()
    copies = favourites.values_list("team_id", "image_created_at", "image__team_id", "image__created_at")
    assert all(team == image_team and when == created for team, when, image_team, created in copies)
    assert "total time" in output

    member = get_user_model().objects.get(username="scale-member")
    assert member.images.filter(team__isnull=True).count() == 20
    client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session[SESSION_KEY] = str(Team.objects.get(name="Scale 60").code)
    session.save()
    for query in ("", "?sort=favourites", "?favourite=on", "?q=portrait"):
        assert client.get(reverse("team_library") + query, secure=True).status_code == 200
