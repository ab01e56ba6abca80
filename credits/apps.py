from django.apps import AppConfig
from django.http import HttpRequest


def header_values(request: HttpRequest) -> dict[str, object]:
    """The page header's "credits spent" (signed-in users)."""
    from credits.selectors import credits_spent_by_user

    return {"credits_spent": credits_spent_by_user(user_id=request.user.id)}


class CreditsConfig(AppConfig):
    name = "credits"

    def ready(self) -> None:
        from credits.metrics import CreditsCollector
        from pixelgallery.context_processors import register_header_values
        from pixelgallery.metrics import register_scrape_collector

        register_header_values(header_values)
        register_scrape_collector(CreditsCollector())
