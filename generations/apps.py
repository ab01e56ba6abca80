from django.apps import AppConfig
from django.http import HttpRequest


def header_values(request: HttpRequest) -> dict[str, object]:
    """The page header's provider pause banner (signed-in users)."""
    from generations.services import provider_pause_active

    return {"provider_pause": provider_pause_active()}


class GenerationsConfig(AppConfig):
    name = "generations"

    def ready(self) -> None:
        from credits import hooks
        from generations import selectors, services
        from generations.metrics import GenerationsCollector
        from pixelgallery.context_processors import register_header_values
        from pixelgallery.metrics import register_scrape_collector
        from teams.hooks import register_deletion_participant

        # The credits pages show work in flight and quota reports without importing generations.
        hooks.register(
            reserved_by_user=selectors.credits_reserved_by_user, quota_state=selectors.provider_quota_state
        )
        register_header_values(header_values)
        register_scrape_collector(GenerationsCollector())
        # A team is not deleted under work in flight; its empty generations go with it.
        register_deletion_participant(
            name="generations",
            summarise=selectors.team_work_in_flight,
            purge=services.team_generations_delete,
        )
