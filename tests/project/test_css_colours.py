"""Dark mode holds only if every colour of the stylesheet is a variable that the dark scheme can override."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

CSS = Path(settings.BASE_DIR) / "static" / "css" / "app.css"
COLOUR = re.compile(
    r"#[0-9a-fA-F]{3,8}\b|\b(?:rgba?|hsla?|oklch|lab|lch)\(|(?<![\w-])(?:white|black)(?![\w-])"
)


def palettes_removed(css: str) -> str:
    """The stylesheet without its ``:root { … }`` palettes (the light one and the dark one's media block)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"@media \(prefers-color-scheme: dark\) \{\s*:root \{[^}]*\}\s*\}", "", css)
    return re.sub(r":root \{[^}]*\}", "", css, count=1)


def test_every_colour_is_a_variable_with_a_dark_value():
    css = CSS.read_text()
    rest = palettes_removed(css)
    literals = [line.strip() for line in rest.splitlines() if COLOUR.search(line)]
    assert literals == [], "colours outside the palettes (add a variable to both):\n" + "\n".join(literals)

    light = dict(re.findall(r"(--[\w-]+):\s*([^;]+);", css.split("@media (prefers-color-scheme: dark)")[0]))
    dark_block = re.search(r"@media \(prefers-color-scheme: dark\) \{\s*:root \{([^}]*)\}", css).group(1)
    dark = dict(re.findall(r"(--[\w-]+):\s*([^;]+);", dark_block))
    assert set(dark) <= set(light)
    colours = {name for name, value in light.items() if COLOUR.search(value)}
    # the header and the image viewer are dark in both schemes
    header = ("--topbar", "--brand", "--chip", "--role-chip", "--viewer")
    light_only = sorted(name for name in colours - set(dark) if not name.startswith(header))
    assert light_only == [], f"light colours without a dark value: {light_only}"
