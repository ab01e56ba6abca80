from django.urls import path

from generations import views, views_hooks, views_operations

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("generate/", views.generate, name="generate"),
    path("g/<uuid:code>/", views.generation_detail, name="generation_detail"),
    path("g/<uuid:code>/status/", views.generation_status, name="generation_status"),
    path("compare/<uuid:code>/", views.comparison_detail, name="comparison_detail"),
    path("i/<uuid:code>/original/", views.image_original, name="image_original"),
    path("i/<uuid:code>/thumbnail/", views.image_thumbnail, name="image_thumbnail"),
    path("t/<str:signature>/<int:expiry>/<path:key>", views.signed_thumbnail, name="signed_thumbnail"),
    path("hooks/pixeldojo/<str:secret>/", views_hooks.pixeldojo_job_hook, name="pixeldojo_job_hook"),
    path("ops/", views_operations.operations, name="operations"),
    path("ops/resume/", views_operations.operations_resume, name="operations_resume"),
    path("ops/hosts/allow/", views_operations.operations_allow_host, name="operations_allow_host"),
    path(
        "ops/catalogue/refresh/",
        views_operations.operations_catalogue_refresh,
        name="operations_catalogue_refresh",
    ),
]
