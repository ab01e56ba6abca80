"""``{% load thumbnails %}``: ``<img {% thumbnail_attrs image sizes="…" %} alt="…" loading="lazy">``.

Writes ``src``, ``srcset`` and ``sizes`` (signed URLs of both WebP sizes, ``generations/thumbnails.py``) and
the image's ``width``/``height`` so nothing shifts while it loads. Costs no query: only the image's fields.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from generations.thumbnails import thumbnail_sources

register = template.Library()


@register.simple_tag
def thumbnail_attrs(image, sizes: str = "auto, 320px") -> SafeString:
    """The ``<img>`` attributes of ``image``'s thumbnail; the old per-image view if it has none stored."""
    sources = thumbnail_sources(image)
    if sources is None:
        return format_html('src="{}"', reverse("image_thumbnail", args=[image.code]))
    attrs = format_html('src="{}"', sources.src)
    if sources.srcset:
        attrs = format_html('{} srcset="{}" sizes="{}"', attrs, sources.srcset, sizes)
    if sources.width and sources.height:
        attrs = format_html('{} width="{}" height="{}"', attrs, sources.width, sources.height)
    return attrs
