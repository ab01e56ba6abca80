"""Generations recorded before reuse keys existed get theirs (``generations/fingerprints.py``), in batches of
ids, each in its own transaction, so that a big table is never read or locked at once. Rows without a fixed
seed keep the empty key."""

from django.db import migrations

from generations.fingerprints import fingerprints_backfill


def backfill(apps, schema_editor) -> None:
    fingerprints_backfill(apps.get_model("generations", "Generation"))


class Migration(migrations.Migration):
    atomic = False  # one transaction per batch

    dependencies = [
        ("generations", "0015_generation_fingerprint"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
