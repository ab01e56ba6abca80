"""Generations recorded before prices existed get the price they had: 1 credit per image (the old cost).

Budgets count the price of work PixelDojo has not answered yet; a row without one would otherwise be
counted at today's cost of its model.
"""

from django.db import migrations, models
from django.db.models.functions import Cast


def backfill(apps, schema_editor) -> None:
    Generation = apps.get_model("generations", "Generation")
    price = Cast("num_outputs", output_field=models.DecimalField(max_digits=12, decimal_places=4))
    Generation.objects.filter(price__isnull=True).update(price=price)


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0007_provider_details_price_called_at"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
