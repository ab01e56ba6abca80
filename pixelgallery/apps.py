from django.apps import AppConfig


class PixelGalleryConfig(AppConfig):
    """The project package as an app: its system checks and the log record factory."""

    name = "pixelgallery"
    verbose_name = "PixelGallery"

    def ready(self) -> None:
        from pixelgallery import checks  # noqa: F401 (registers the checks)
        from pixelgallery.logging import install_record_factory

        install_record_factory()
