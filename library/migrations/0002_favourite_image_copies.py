"""Favourites keep copies of their image's team and creation time, so "favourites first" reads the user's
favourites in one space newest first from one index range instead of probing every image of the team."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_from_images(apps, schema_editor):
    favourite, image = apps.get_model("library", "Favourite"), apps.get_model("generations", "Image")
    of_image = image.objects.filter(pk=OuterRef("image_id"))
    favourite.objects.update(
        team_id=Subquery(of_image.values("team_id")[:1]),
        image_created_at=Subquery(of_image.values("created_at")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("library", "0001_initial"),
        ("teams", "0002_team_deleted_at_invitation_declined_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="favourite",
            name="team",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="teams.team",
            ),
        ),
        migrations.AddField(
            model_name="favourite", name="image_created_at", field=models.DateTimeField(null=True)
        ),
        migrations.RunPython(copy_from_images, migrations.RunPython.noop),
        migrations.AlterField(model_name="favourite", name="image_created_at", field=models.DateTimeField()),
        migrations.AddIndex(
            model_name="favourite",
            index=models.Index(
                fields=["user", "team", "-image_created_at", "-image"], name="favourite_user_team_newest"
            ),
        ),
    ]
