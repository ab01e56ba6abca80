from django.apps import AppConfig
from django.http import HttpRequest


def header_values(request: HttpRequest) -> dict[str, object]:
    """The page header's provider pause banner (signed-in users)."""
    from generations.services import header_provider_pause

    return {"provider_pause": header_provider_pause()}


class GenerationsConfig(AppConfig):
    name = "generations"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from credits import hooks
        from generations import selectors, services
        from generations.metrics import GenerationsCollector
        from generations.models import ProviderPause
        from pixelgallery.context_processors import register_header_values
        from pixelgallery.metrics import register_scrape_collector
        from teams.hooks import register_deletion_participant

        # The credits pages show work in flight and quota reports without importing generations.
        hooks.register(
            reserved_by_user=selectors.credits_reserved_by_user, quota_state=selectors.provider_quota_state
        )
        register_header_values(header_values)
        # The header's cached pause goes whenever a pause row is saved or deleted (admin included).
        forget = services.forget_provider_pause
        post_save.connect(forget, sender=ProviderPause, dispatch_uid="pause-saved")
        post_delete.connect(forget, sender=ProviderPause, dispatch_uid="pause-deleted")
        register_scrape_collector(GenerationsCollector())
        # A team is not deleted under work in flight; its empty generations go with it.
        register_deletion_participant(
            name="generations",
            summarise=selectors.team_work_in_flight,
            purge=services.team_generations_delete,
        )
