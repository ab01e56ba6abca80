"""Team pages, mounted under ``teams/`` (``path("teams/", include("teams.urls"))``)."""

from django.urls import path

from teams import views

app_name = "teams"

urlpatterns = [
    path("", views.team_list, name="list"),
    path("switch/", views.switch, name="switch"),
    path("join/<str:token>/", views.join, name="join"),
    path("join/<str:token>/decline/", views.decline, name="decline"),
    path("<uuid:code>/", views.team_detail, name="detail"),
    path("<uuid:code>/rename/", views.team_rename, name="rename"),
    path("<uuid:code>/invite/", views.invite, name="invite"),
    path("<uuid:code>/invitations/revoke/", views.invitation_revoke, name="revoke"),
    path("<uuid:code>/members/role/", views.member_role, name="member_role"),
    path("<uuid:code>/members/remove/", views.member_remove, name="member_remove"),
    path("<uuid:code>/leave/", views.leave, name="leave"),
    path("<uuid:code>/transfer/", views.transfer, name="transfer"),
    path("<uuid:code>/delete/", views.team_delete, name="delete"),
]
