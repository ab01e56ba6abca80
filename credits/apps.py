from django.apps import AppConfig
from django.http import HttpRequest


def header_values(request: HttpRequest) -> dict[str, object]:
    """The page header's "credits spent" (signed-in users)."""
    from credits.selectors import header_credits_spent

    return {"credits_spent": header_credits_spent(user_id=request.user.id)}


class CreditsConfig(AppConfig):
    name = "credits"

    def ready(self) -> None:
        from credits import selectors, services
        from credits.metrics import CreditsCollector
        from pixelgallery.context_processors import register_header_values
        from pixelgallery.metrics import register_scrape_collector
        from teams.hooks import register_deletion_participant

        register_header_values(header_values)
        register_scrape_collector(CreditsCollector())
        # Deleting a team keeps its ledger (and the roll-up of it) and drops its budgets.
        register_deletion_participant(
            name="credits", summarise=selectors.team_ledger_totals, purge=services.team_budgets_delete
        )
