"""Curation: favourites, collections, tags, bulk actions, ZIP export, deletion, remix."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.urls import reverse

from generations.models import Generation, Image
from library import services
from library.forms import TagsForm
from library.models import MAX_TAG_LENGTH, Collection, Favourite, Tag
from tests.library.factories import logged_in, make_image, make_team, png_bytes

pytestmark = pytest.mark.django_db


def test_favourite_toggles_per_user(client, alice, bob):
    team = make_team(alice, viewer=bob)
    image = make_image(alice, team=team)
    logged_in(client, bob, team)
    url = reverse("image_favourite", args=[image.code])
    response = client.post(url, {"favourite": "1"}, HTTP_ACCEPT="application/json")
    assert response.json() == {"favourite": True}
    client.post(url, {"favourite": "1"}, HTTP_ACCEPT="application/json")  # twice is still one favourite
    assert list(Favourite.objects.values_list("user__username", flat=True)) == ["bob"]
    client.post(url, {"favourite": "0"})
    assert not Favourite.objects.exists()


def test_collection_lifecycle_create_add_cover_rename_remove_delete(client, alice, bob):
    team = make_team(alice, member=bob)
    first, second = make_image(alice, team=team, prompt="first"), make_image(bob, team=team, prompt="second")
    logged_in(client, bob, team)
    response = client.post(reverse("collections"), {"name": "  Mood   board "})
    board = Collection.objects.get()
    assert response["Location"] == reverse("collection_detail", args=[board.code])
    assert (board.name, board.team, board.created_by) == ("Mood board", team, bob)

    bulk = {"action": "collect", "collection": str(board.code), "images": [str(first.code), str(second.code)]}
    client.post(reverse("library_bulk"), bulk)
    board.refresh_from_db()
    assert set(board.images.values_list("generation__prompt", flat=True)) == {"first", "second"}
    assert board.cover == second  # the newest selected image becomes the cover

    edit = reverse("collection_edit", args=[board.code])
    client.post(edit, {"operation": "cover", "image": str(first.code)})
    client.post(edit, {"operation": "rename", "name": "Moods"})
    board.refresh_from_db()
    assert (board.name, board.cover) == ("Moods", first)
    client.post(edit, {"operation": "remove", "image": str(first.code)})
    board.refresh_from_db()
    assert list(board.images.all()) == [second] and board.cover == second

    html = client.get(reverse("collection_detail", args=[board.code])).content.decode()
    assert "second" in html and ">first<" not in html
    client.post(edit, {"operation": "delete"})
    assert not Collection.objects.exists() and Image.objects.count() == 2  # images are kept


def test_images_of_another_team_cannot_join_a_collection(client, alice, bob):
    team, other = make_team(alice), make_team(alice, name="Other")
    board = Collection.objects.create(name="Board", team=team, created_by=alice)
    foreign = make_image(alice, team=other)
    logged_in(client, alice, team)
    response = client.post(
        reverse("image_collect", args=[foreign.code]), {"collection": str(board.code)}, follow=True
    )
    assert "can only hold images of the same team" in response.content.decode()
    assert not board.images.exists()


def test_a_bulk_add_with_one_image_of_another_team_adds_nothing(client, alice):
    team, other = make_team(alice), make_team(alice, name="Other")
    board = Collection.objects.create(name="Board", team=team, created_by=alice)
    foreign = make_image(alice, team=other, prompt="foreign", days_ago=1)
    own = make_image(alice, team=team, prompt="own")  # newest: the first one a loop would reach
    logged_in(client, alice, team)
    bulk = {"action": "collect", "collection": str(board.code), "images": [str(foreign.code), str(own.code)]}
    response = client.post(reverse("library_bulk"), bulk, follow=True)
    assert "can only hold images of the same team, so nothing was added." in response.content.decode()
    board.refresh_from_db()
    assert not board.images.exists() and board.cover is None


def test_a_personal_board_refuses_a_batch_with_a_team_image_as_a_whole(alice):
    team = make_team(alice)
    board = Collection.objects.create(name="Mine", team=None, created_by=alice)
    personal, of_team = make_image(alice, prompt="personal"), make_image(alice, team=team, prompt="team")
    with pytest.raises(ValidationError, match="nothing was added"):
        services.collection_add(user=alice, collection=board, images=[personal, of_team])
    board.refresh_from_db()
    assert not board.images.exists() and board.cover is None
    assert services.collection_add(user=alice, collection=board, images=[personal]) == 1


def test_viewer_cannot_curate(client, alice, bob):
    team = make_team(alice, viewer=bob)
    image = make_image(alice, team=team)
    board = Collection.objects.create(name="Board", team=team, created_by=alice)
    logged_in(client, bob, team)
    collect = client.post(reverse("image_collect", args=[image.code]), {"collection": str(board.code)})
    assert collect.status_code == 403
    assert client.post(reverse("image_tags", args=[image.code]), {"tags": "nope"}).status_code == 403
    assert not image.image_tags.exists() and not board.images.exists()
    assert "Viewers browse" in client.get(reverse("collections")).content.decode()
    assert client.post(reverse("collections"), {"name": "Mine"}).status_code == 403
    assert Collection.objects.count() == 1


def test_a_tag_of_the_longest_length_saves_and_a_longer_one_is_refused_with_a_clear_error(client, alice):
    assert Tag._meta.get_field("name").max_length == MAX_TAG_LENGTH  # one limit: the model's
    image = make_image(alice)
    logged_in(client, alice)
    url = reverse("image_tags", args=[image.code])
    longest = "a" * MAX_TAG_LENGTH

    client.post(url, {"tags": f"{longest}, short"})
    assert sorted(image.image_tags.values_list("tag__name", flat=True)) == [longest, "short"]

    page = client.post(url, {"tags": "b" * (MAX_TAG_LENGTH + 1)}, follow=True).content.decode()
    assert f"Tags are at most {MAX_TAG_LENGTH} characters." in page
    assert sorted(image.image_tags.values_list("tag__name", flat=True)) == [longest, "short"]  # unchanged
    form = TagsForm({"tags": "c" * (MAX_TAG_LENGTH + 1)})
    assert form.errors["tags"] == [f"Tags are at most {MAX_TAG_LENGTH} characters."]
    with pytest.raises(ValidationError):
        services.tags_set(user=alice, image=image, names=["d" * (MAX_TAG_LENGTH + 1)])


def test_tags_are_normalised_and_replaced(client, alice):
    image = make_image(alice)
    logged_in(client, alice)
    url = reverse("image_tags", args=[image.code])
    client.post(url, {"tags": "Sunset,  beach , sunset,"})
    assert sorted(image.image_tags.values_list("tag__name", flat=True)) == ["beach", "sunset"]
    client.post(url, {"tags": "poster"})
    assert list(image.image_tags.values_list("tag__name", flat=True)) == ["poster"]
    html = client.get(reverse("my_images") + "?tag=poster").content.decode()
    assert "a quiet harbour at dusk" in html


def test_zip_download_streams_the_stored_originals(client, alice):
    images = [make_image(alice, prompt=f"picture {n}", with_files=True) for n in range(3)]
    logged_in(client, alice)
    response = client.post(
        reverse("library_bulk"), {"action": "zip", "images": [str(i.code) for i in images]}
    )
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert len(names) == 3 and all(name.startswith("picture-") and name.endswith(".png") for name in names)
    assert all(archive.read(name) == png_bytes() for name in names)


def test_bulk_refuses_images_you_cannot_see(client, alice, bob):
    secret = make_image(bob, prompt="bob's secret", with_files=True)
    logged_in(client, alice)
    response = client.post(reverse("library_bulk"), {"action": "zip", "images": [str(secret.code)]})
    assert b"".join(response.streaming_content).startswith(b"PK")  # an empty archive
    assert (
        zipfile.ZipFile(
            io.BytesIO(
                b"".join(
                    client.post(
                        reverse("library_bulk"), {"action": "zip", "images": [str(secret.code)]}
                    ).streaming_content
                )
            )
        ).namelist()
        == []
    )
    client.post(reverse("library_bulk"), {"action": "delete", "images": [str(secret.code)]})
    assert Image.objects.filter(id=secret.id).exists()


def test_delete_removes_files_and_is_for_author_or_admin(
    client, alice, bob, make_user, django_capture_on_commit_callbacks
):
    carol = make_user("carol")
    team = make_team(alice, member=bob, admin=carol)
    bobs, alices = make_image(bob, team=team, with_files=True), make_image(alice, team=team, with_files=True)
    files = [bobs.file.name, bobs.thumbnail.name]
    logged_in(client, bob, team)
    assert client.post(reverse("image_delete", args=[alices.code])).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("image_delete", args=[bobs.code]))
    assert not Image.objects.filter(id=bobs.id).exists()
    assert not Generation.objects.filter(id=bobs.generation_id).exists()
    assert not any(default_storage.exists(name) for name in files)
    logged_in(client, carol, team)
    client.post(reverse("image_delete", args=[alices.code]))
    assert not Image.objects.filter(id=alices.id).exists()  # an admin may delete anyone's


@pytest.mark.parametrize(
    ("seed_choice", "seed_html"), [("same", 'name="seed" value="4242"'), ("new", 'name="seed" min')]
)
def test_remix_prefills_the_form(client, alice, seed_choice, seed_html):
    image = make_image(
        alice, prompt="a castle in the clouds", model="flux-1.1-pro", aspect_ratio="3:2", seed=4242
    )
    logged_in(client, alice)
    html = client.get(reverse("generate") + f"?remix={image.code}&seed={seed_choice}").content.decode()
    assert "a castle in the clouds</textarea>" in html
    assert '<option value="flux-1.1-pro" selected>' in html and '<option value="3:2" selected>' in html
    assert seed_html in html


def test_remix_of_an_image_you_cannot_see_is_404(client, alice, bob):
    image = make_image(bob)
    logged_in(client, alice)
    assert client.get(reverse("generate") + f"?remix={image.code}").status_code == 404
    assert client.get(reverse("generate") + "?remix=not-a-uuid").status_code == 404


def test_image_detail_shows_author_team_credits_and_actions(client, alice):
    team = make_team(alice, name="Atelier")
    image = make_image(alice, team=team, prompt="lanterns", with_files=True)
    logged_in(client, alice, team)
    html = client.get(reverse("image_detail", args=[image.code])).content.decode()
    for needle in [
        "lanterns",
        "Atelier",
        'data-testid="author">alice',
        'data-testid="credits">0',
        "remix-same",
        "remix-new",
        "copy-prompt",
        'data-testid="download"',
        'data-testid="delete"',
    ]:
        assert needle in html
