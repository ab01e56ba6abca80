"""``{% load images %}``: an image's page paths and its lightbox attributes, cheaply enough for every tile.

* ``{{ image.code|image_path:"image_detail" }}``: the path of one of its pages (``generations.paths``).
* ``<img … {% lightbox_attrs image [generation] %}>``: what ``static/js/lightbox.js`` shows for the image (the
  original, its page, the prompt and the model's name); pass the generation where it is at hand.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from generations.paths import image_path as path_of

register = template.Library()


@register.filter
def image_path(code, name: str) -> str:
    return path_of(name, code)


@register.simple_tag
def lightbox_attrs(image, generation=None) -> SafeString:
    generation = generation or image.generation
    return format_html(
        'data-lightbox-src="{}" data-lightbox-href="{}" data-lightbox-prompt="{}" data-lightbox-model="{}"',
        path_of("image_original", image.code),
        path_of("image_detail", image.code),
        generation.prompt,
        generation.model_label,
    )
