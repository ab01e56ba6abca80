"""Each image keeps its prompt's full-text document, GIN-indexed on the image table, so a team's prompt search
reads one table (its ``team_id`` and the document) instead of computing ``to_tsvector`` per row over a join.

On PostgreSQL the database writes the document: a trigger on insert (from the image's generation) and one on a
prompt change (to that generation's images), so every way of adding images (the ORM, ``bulk_create``, the bulk
seeder's SQL) gets it. Existing rows are filled here, and migration 0004's index on the generation's prompt,
which nothing reads any more, is dropped. SQLite keeps the column empty and searches the prompt.
"""

import django.contrib.postgres.search
from django.db import migrations

INDEX = "image_search_document"
OLD_INDEX = "generation_prompt_fts"  # migration 0004's, on the generation's prompt
OLD_INDEX_CREATE = (
    f"CREATE INDEX IF NOT EXISTS {OLD_INDEX} ON generations_generation "
    "USING gin (to_tsvector('english'::regconfig, COALESCE(prompt, ''::text)))"
)
DOCUMENT = "to_tsvector('english'::regconfig, COALESCE(generations_generation.prompt, ''::text))"
FORWARD = [
    f"""
    CREATE OR REPLACE FUNCTION generations_image_search_document() RETURNS trigger AS $$
    BEGIN
        SELECT {DOCUMENT} INTO NEW.search_document
        FROM generations_generation WHERE generations_generation.id = NEW.generation_id;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER generations_image_search_document
    BEFORE INSERT OR UPDATE OF generation_id ON generations_image
    FOR EACH ROW EXECUTE FUNCTION generations_image_search_document()
    """,
    """
    CREATE OR REPLACE FUNCTION generations_generation_prompt_changed() RETURNS trigger AS $$
    BEGIN
        UPDATE generations_image SET search_document = to_tsvector('english'::regconfig, COALESCE(NEW.prompt, ''))
        WHERE generation_id = NEW.id;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER generations_generation_prompt_changed
    AFTER UPDATE OF prompt ON generations_generation
    FOR EACH ROW WHEN (OLD.prompt IS DISTINCT FROM NEW.prompt)
    EXECUTE FUNCTION generations_generation_prompt_changed()
    """,
    f"""
    UPDATE generations_image SET search_document = {DOCUMENT}
    FROM generations_generation WHERE generations_generation.id = generations_image.generation_id
    """,
    f"CREATE INDEX IF NOT EXISTS {INDEX} ON generations_image USING gin (search_document)",
    f"DROP INDEX IF EXISTS {OLD_INDEX}",  # searches no longer read the generation's prompt
]
BACKWARD = [
    OLD_INDEX_CREATE,
    f"DROP INDEX IF EXISTS {INDEX}",
    "DROP TRIGGER IF EXISTS generations_generation_prompt_changed ON generations_generation",
    "DROP FUNCTION IF EXISTS generations_generation_prompt_changed()",
    "DROP TRIGGER IF EXISTS generations_image_search_document ON generations_image",
    "DROP FUNCTION IF EXISTS generations_image_search_document()",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("generations", "0009_image_thumbnail_small")]

    operations = [
        migrations.AddField(
            model_name="image",
            name="search_document",
            field=django.contrib.postgres.search.SearchVectorField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(forward, backward),
    ]
