"""Webhook pages, mounted under a team: ``path("teams/<uuid:code>/webhooks/", include("webhooks.urls"))``."""

from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoint_list, name="list"),
    path("<uuid:endpoint>/", views.endpoint_detail, name="detail"),
    path("<uuid:endpoint>/delete/", views.endpoint_delete, name="delete"),
    path("<uuid:endpoint>/enable/", views.endpoint_enable, name="enable"),
    path("<uuid:endpoint>/deliveries/<uuid:delivery>/resend/", views.delivery_resend, name="resend"),
]
