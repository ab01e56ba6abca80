from django.urls import path

from library import views, views_shares

urlpatterns = [
    path("library/", views.my_images, name="my_images"),
    path("library/team/", views.team_library, name="team_library"),
    path("library/bulk/", views.bulk, name="library_bulk"),
    path("library/compare/", views.compare, name="library_compare"),
    path("images/<uuid:code>/", views.image_detail, name="image_detail"),
    path("images/<uuid:code>/favourite/", views.image_favourite, name="image_favourite"),
    path("images/<uuid:code>/tags/", views.image_tags, name="image_tags"),
    path("images/<uuid:code>/collect/", views.image_collect, name="image_collect"),
    path("images/<uuid:code>/delete/", views.image_delete, name="image_delete"),
    path("collections/", views.collections, name="collections"),
    path("collections/<uuid:code>/", views.collection_detail, name="collection_detail"),
    path("collections/<uuid:code>/edit/", views.collection_edit, name="collection_edit"),
    # Share links: made by members, opened by anyone holding one, revoked by their creator or a team admin
    path("images/<uuid:code>/share/", views_shares.image_share, name="image_share"),
    path("collections/<uuid:code>/share/", views_shares.collection_share, name="collection_share"),
    path("shares/<uuid:code>/revoke/", views_shares.share_revoke, name="share_revoke"),
    path("teams/<uuid:code>/shares/", views_shares.team_shares, name="team_shares"),
    path("s/<str:token>/", views_shares.share_page, name="share_page"),
    path("s/<str:token>/i/<str:image>/original", views_shares.share_original, name="share_original"),
]
