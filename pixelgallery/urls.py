"""URL configuration."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from api.v1 import api

urlpatterns = [
    # Browsers ask for /favicon.ico whatever the page links; send them to the static (cached) file.
    path(
        "favicon.ico",
        RedirectView.as_view(url=lazy(static, str)("favicon.ico"), permanent=True),
        name="favicon",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("generations.urls")),
    path("", include("library.urls")),
    path("teams/", include("teams.urls")),
    path("teams/<uuid:code>/webhooks/", include("webhooks.urls")),
    path("credits/", include("credits.urls")),
    path("", include("api.urls")),
    path("api/v1/", api.urls),  # the JSON API, its OpenAPI document and docs (namespace "api")
]

# 403 and 404: Django's own views render templates/403.html and templates/404.html.
handler500 = "pixelgallery.views.server_error"
