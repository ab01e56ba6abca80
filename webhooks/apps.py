from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"

    def ready(self) -> None:
        from pixelgallery import events
        from teams.hooks import register_deletion_participant
        from webhooks.services import event_fan_out, team_endpoints_delete

        events.subscribe(name="webhooks", listener=event_fan_out)
        # Deleting a team stops its webhooks: its endpoints (with their deliveries) go with it.
        register_deletion_participant(
            name="webhooks", summarise=lambda *, team_id: {}, purge=team_endpoints_delete
        )
