"""URL configuration."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("generations.urls")),
    path("", include("library.urls")),
    path("teams/", include("teams.urls")),
    path("credits/", include("credits.urls")),
]

# 403 and 404: Django's own views render templates/403.html and templates/404.html.
handler500 = "pixelgallery.views.server_error"
