from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"

    def ready(self) -> None:
        from pixelgallery import events
        from webhooks.services import event_fan_out

        events.subscribe(name="webhooks", listener=event_fan_out)
