from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "generations"

    def ready(self) -> None:
        from credits import hooks
        from generations import selectors

        # The credits pages show work in flight and quota reports without importing generations.
        hooks.register(
            reserved_by_user=selectors.images_reserved_by_user, quota_state=selectors.provider_quota_state
        )
