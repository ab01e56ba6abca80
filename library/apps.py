from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "library"

    def ready(self) -> None:
        from library import selectors, services
        from teams.hooks import register_deletion_participant

        # Deleting a team deletes its collections and its images with their files.
        register_deletion_participant(
            name="library", summarise=selectors.team_holdings, purge=services.team_library_delete
        )
