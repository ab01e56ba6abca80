from django.apps import AppConfig
from django.http import HttpRequest


def header_values(request: HttpRequest) -> dict[str, object]:
    """The page header's provider pause banner (signed-in users)."""
    from generations.services import provider_pause_active

    return {"provider_pause": provider_pause_active()}


class GenerationsConfig(AppConfig):
    name = "generations"

    def ready(self) -> None:
        from generations.metrics import GenerationsCollector
        from pixelgallery.context_processors import register_header_values
        from pixelgallery.metrics import register_scrape_collector

        register_header_values(header_values)
        register_scrape_collector(GenerationsCollector())
