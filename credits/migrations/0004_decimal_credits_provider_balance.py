"""Credits become exact decimals (4 places): existing whole amounts are converted in place (ALTER on
PostgreSQL, a table copy on SQLite), nothing is rewritten otherwise. Budgets cannot be negative. Adds the
balance PixelDojo reports."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("credits", "0003_prompt_rollup_and_ledger_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProviderBalance",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("credits", models.DecimalField(decimal_places=4, max_digits=14)),
                (
                    "reported_at",
                    models.DateTimeField(db_index=True, help_text="When the answer that carried it arrived."),
                ),
            ],
            options={
                "ordering": ["-reported_at", "-id"],
                "get_latest_by": ("reported_at", "id"),
            },
        ),
        migrations.AlterField(
            model_name="budget",
            name="monthly_credits",
            field=models.DecimalField(decimal_places=4, max_digits=14),
        ),
        migrations.AlterField(
            model_name="budgetalert",
            name="limit",
            field=models.DecimalField(decimal_places=4, max_digits=14),
        ),
        migrations.AlterField(
            model_name="budgetalert",
            name="spent",
            field=models.DecimalField(decimal_places=4, max_digits=14),
        ),
        migrations.AlterField(
            model_name="dailypromptspend",
            name="credits",
            field=models.DecimalField(decimal_places=4, default=0, max_digits=14),
        ),
        migrations.AlterField(
            model_name="dailyspend",
            name="credits",
            field=models.DecimalField(decimal_places=4, default=0, max_digits=14),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="credits",
            field=models.DecimalField(
                decimal_places=4,
                help_text="Charges: what the image cost (positive); refunds negative; top-ups positive.",
                max_digits=14,
            ),
        ),
        migrations.AddConstraint(
            model_name="budget",
            constraint=models.CheckConstraint(
                condition=models.Q(("monthly_credits__gte", 0)),
                name="budget_monthly_credits_not_negative",
                violation_error_message="A budget cannot be negative.",
            ),
        ),
    ]
