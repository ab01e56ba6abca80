"""A GIN index for full-text search over prompts, on PostgreSQL only (SQLite searches without one)."""

from django.db import migrations

INDEX_NAME = "generation_prompt_fts"
CREATE = (
    f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON generations_generation "
    "USING gin (to_tsvector('english'::regconfig, COALESCE(prompt, ''::text)))"
)
DROP = f"DROP INDEX IF EXISTS {INDEX_NAME}"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("generations", "0003_library_scope")]

    operations = [migrations.RunPython(create_index, drop_index)]
