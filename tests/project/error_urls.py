"""The site's URLs and error handlers, plus one view that fails: how a real uncaught error reaches users."""

from django.urls import path

from pixelgallery.urls import handler500
from pixelgallery.urls import urlpatterns as site_urlpatterns

__all__ = ["handler500", "urlpatterns"]


def broken_view(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [*site_urlpatterns, path("broken/", broken_view, name="broken")]
