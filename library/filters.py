"""The library's search and filter parameters: a GET form whose values live in the URL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from django import forms
from django.http import QueryDict
from django.utils import translation

from generations.models import Image
from generations.pixeldojo import ASPECT_RATIOS, MODEL_LABELS, MODELS
from library.models import MAX_TAG_LENGTH

SORTS = {"newest": "Newest first", "oldest": "Oldest first", "favourites": "Favourites first"}


@dataclass(frozen=True)
class LibraryFilters:
    q: str = ""
    model: str = ""
    author: str = ""
    date_from: date | None = None
    date_to: date | None = None
    aspect_ratio: str = ""
    status: str = ""
    collection: str = ""
    tag: str = ""
    family: str = ""  # an image's code: its remix family only
    favourite: bool = False
    sort: str = "newest"
    collapse: bool = False  # near-duplicates of a page folded into one tile (``selectors_similar``)

    @property
    def family_code(self) -> uuid.UUID | None:
        """The image whose family is asked for, when ``family`` is an image code at all."""
        try:
            return uuid.UUID(self.family) if self.family else None
        except ValueError:
            return None

    @property
    def active(self) -> bool:
        """Whether anything narrows the library (sorting and collapsing do not)."""
        return any(value for name, value in self.__dict__.items() if name not in ("sort", "collapse"))


class LibraryFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search prompts")
    model = forms.ChoiceField(
        required=False, choices=[("", "Any model")] + [(m, MODEL_LABELS[m]) for m in MODELS]
    )
    author = forms.CharField(required=False, max_length=150, label="Author")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    aspect_ratio = forms.ChoiceField(
        required=False, choices=[("", "Any shape")] + [(r, r) for r in ASPECT_RATIOS]
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Image.Status.choices])
    collection = forms.CharField(required=False, max_length=36)
    tag = forms.CharField(required=False, max_length=MAX_TAG_LENGTH)
    family = forms.CharField(required=False, widget=forms.HiddenInput)  # junk: matches no image
    favourite = forms.BooleanField(required=False, label="Favourites only")
    sort = forms.ChoiceField(required=False, choices=list(SORTS.items()))
    collapse = forms.BooleanField(required=False, label="Collapse near-duplicates")

    def clean_q(self) -> str:
        return " ".join(self.cleaned_data["q"].split())

    def clean_tag(self) -> str:
        return self.cleaned_data["tag"].strip().lower()

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned

    def to_filters(self) -> LibraryFilters:
        """Valid values as filters; invalid fields are ignored (their errors show beside them)."""
        data = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        return LibraryFilters(
            q=data.get("q") or "",
            model=data.get("model") or "",
            author=(data.get("author") or "").strip(),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            aspect_ratio=data.get("aspect_ratio") or "",
            status=data.get("status") or "",
            collection=(data.get("collection") or "").strip(),
            tag=data.get("tag") or "",
            family=(data.get("family") or "").strip(),
            favourite=bool(data.get("favourite")),
            sort=data.get("sort") or "newest",
            collapse=bool(data.get("collapse")),
        )


# The fields the filter panel shows as widgets (the collection menu is the page's own).
WIDGET_FIELDS = (
    "q",
    "model",
    "aspect_ratio",
    "sort",
    "author",
    "date_from",
    "date_to",
    "status",
    "tag",
    "favourite",
    "collapse",
)


def widgets_html(form: LibraryFilterForm) -> dict[str, str]:
    """What ``{{ form.<field> }}`` renders for each of ``WIDGET_FIELDS``, remembered per submitted values.

    Django renders each ``<option>`` through two templates: about a quarter of a library page's time for
    the same few hundred bytes on almost every page. The HTML depends only on the submitted values (and the
    language), so it is made once per distinct query (at most 256 kept per process)."""
    data = form.data
    values = tuple(
        (name, tuple(data.getlist(name)) if hasattr(data, "getlist") else (data.get(name, ""),))
        for name in WIDGET_FIELDS
    )
    return _widgets_html(values, translation.get_language())


@lru_cache(maxsize=256)
def _widgets_html(values: tuple[tuple[str, tuple[str, ...]], ...], language: str) -> dict[str, str]:
    data = QueryDict(mutable=True)
    for name, submitted in values:
        data.setlist(name, [value for value in submitted if value is not None])
    form = LibraryFilterForm(data)
    form.is_valid()  # invalid fields render as such (aria-invalid)
    return {name: str(form[name]) for name in WIDGET_FIELDS}
