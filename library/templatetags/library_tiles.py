"""``{% load library_tiles %}{% library_tiles page.images %}``: a library page's tiles, written in Python.

A page shows 48 tiles. Through the template engine (an include with six tags and filters per tile) they cost
most of the page's server time; here each tile is one string built from the image's own fields (no query:
the selectors already joined the generation and the author), and it carries each value once:

* the prompt is the caption's text (clamped to two lines by CSS); the viewer (``static/js/lightbox.js``)
  reads it there, and the image page's link from the tile's link, instead of ``data-lightbox-*`` copies;
* ``alt`` is the prompt cut at 80 characters, as everywhere else;
* the thumbnail's ``src``/``srcset`` come from ``generations.thumbnails`` (signed, no query).

Per-user state (``is_favourite``, ``deletable``) is read from the image as the view annotated it, so nothing
here may be cached across users.
"""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from generations.paths import image_path
from generations.thumbnails import thumbnail_sources, thumbnail_url_maker
from pixelgallery.moments import moment_html

register = template.Library()

TILE_SIZES = "auto, (max-width: 480px) 100vw, 260px"


def _img(image, prompt: str, url) -> str:
    sources = thumbnail_sources(image, url=url)
    if sources is None:
        attrs = f'src="{escape(image_path("image_thumbnail", image.code))}"'
    else:
        attrs = f'src="{escape(sources.src)}"'
        if sources.srcset:
            attrs += f' srcset="{escape(sources.srcset)}" sizes="{TILE_SIZES}"'
        if sources.width and sources.height:
            attrs += f' width="{sources.width}" height="{sources.height}"'
    alt = escape(prompt if len(prompt) <= 80 else prompt[:79] + "…")  # the templates' truncatechars:80
    original = image_path("image_original", image.code)
    model = escape(image.generation.model_label)
    lightbox = f'data-lightbox-src="{original}" data-lightbox-model="{model}"'
    return f'<img {attrs} alt="{alt}" loading="lazy" {lightbox}>'


def _similar_badge(image) -> str:
    """ "+N similar" when near-duplicates of this page were folded into the tile (``collapse=1``)."""
    count = getattr(image, "similar_count", 0)
    if not count:
        return ""
    return (
        f'<a class="badge similar-count" href="{image_path("image_detail", image.code)}#similar" '
        'data-testid="similar-count" title="Near-duplicates of this image on this page, folded into it">'
        f"+{count} similar</a>"
    )


def tile_html(image, *, url=None) -> str:
    """One tile (``<figure data-testid="tile">``) of ``image``, with this user's favourite and delete
    state."""
    code = image.code
    generation = image.generation
    prompt = generation.prompt
    if image.status == "stored":
        picture = _img(image, prompt, url or thumbnail_url_maker())
    else:
        picture = f'<span class="placeholder image-{image.status}">{escape(image.status_text)}</span>'
    favourite = bool(getattr(image, "is_favourite", False))
    deletable = " data-deletable" if getattr(image, "deletable", False) else ""
    pressed = "true" if favourite else "false"
    return (
        f'<figure class="tile status-{image.status}" data-code="{code}" data-testid="tile">'
        f'<label class="pick"><input type="checkbox" name="images" value="{code}" form="bulk-form" '
        f'aria-label="Select image"{deletable}></label>'
        f'<a href="{image_path("image_detail", code)}" class="tile-link">{picture}</a>'
        f'<button type="submit" form="favourite-form" formaction="{image_path("image_favourite", code)}" '
        f'name="favourite" value="{0 if favourite else 1}" class="fav{" on" if favourite else ""}" '
        f'aria-pressed="{pressed}" title="Favourite" data-testid="favourite">♥</button>'
        f"{_similar_badge(image)}"
        f'<figcaption><span class="prompt-line clamp" data-testid="tile-prompt">{escape(prompt)}</span>'
        f'<span class="by">{escape(generation.model)} · {escape(image.user.get_username())} · '
        f"{moment_html(image.created_at)}</span></figcaption></figure>\n"
    )


@register.simple_tag
def library_tiles(images) -> SafeString:
    url = thumbnail_url_maker()  # one window and storage for the whole page
    return mark_safe("".join(tile_html(image, url=url) for image in images))  # noqa: S308 - every value escaped above
