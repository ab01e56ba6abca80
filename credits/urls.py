"""Credit pages, mounted under ``credits/`` (``path("credits/", include("credits.urls"))``)."""

from django.urls import path

from credits import views

app_name = "credits"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("team/", views.team_dashboard, name="team"),
    path("team/budget/", views.team_budget, name="team_budget"),
    path("team/top-up/", views.team_top_up, name="team_top_up"),
    path("team/export.csv", views.team_export, name="team_export"),
]
