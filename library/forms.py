"""Forms for curating the library."""

from __future__ import annotations

import uuid

from django import forms

from library.services import normalise_tags, tag_names_check


class CollectionForm(forms.Form):
    name = forms.CharField(max_length=80, label="Collection name")

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("Give the collection a name.")
        return name


class TagsForm(forms.Form):
    tags = forms.CharField(required=False, max_length=400, help_text="Comma-separated, e.g. sunset, poster")

    def clean_tags(self) -> list[str]:
        names = normalise_tags(self.cleaned_data["tags"])
        if len(names) > 20:
            raise forms.ValidationError("At most 20 tags per image.")
        tag_names_check(names)
        return names


BULK_ACTIONS = [
    ("collect", "Add to collection"),
    ("zip", "Download ZIP"),
    ("delete", "Delete"),
    ("compare", "Compare"),
]


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=BULK_ACTIONS)
    images = forms.CharField(widget=forms.MultipleHiddenInput, required=False)
    collection = forms.UUIDField(required=False)

    def __init__(self, data=None, **kwargs) -> None:
        super().__init__(data, **kwargs)
        self.image_codes = data.getlist("images") if data is not None else []

    def clean(self) -> dict:
        cleaned = super().clean()
        try:
            self.image_codes = [uuid.UUID(code) for code in self.image_codes]
        except ValueError:
            raise forms.ValidationError("Some selected images are unknown.") from None
        if not self.image_codes:
            raise forms.ValidationError("Select at least one image.")
        if len(self.image_codes) > 500:
            raise forms.ValidationError("Select at most 500 images at a time.")
        if cleaned.get("action") == "collect" and not cleaned.get("collection"):
            self.add_error("collection", "Choose a collection.")
        return cleaned


COMPARE_MIN, COMPARE_MAX = 2, 4


class CompareForm(forms.Form):
    """``?images=<code>,<code>[,…]``: 2 to 4 distinct image codes, in the order given."""

    images = forms.CharField(required=False, max_length=4000)

    def clean_images(self) -> list[uuid.UUID]:
        codes: list[uuid.UUID] = []
        for part in self.cleaned_data["images"].split(","):
            text = part.strip()
            if not text:
                continue
            try:
                code = uuid.UUID(text)
            except ValueError:
                raise forms.ValidationError(
                    "“%(code)s” is not an image of this site: pick the images again in your library.",
                    params={"code": text[:40]},
                ) from None
            if code not in codes:
                codes.append(code)
        if not COMPARE_MIN <= len(codes) <= COMPARE_MAX:
            raise forms.ValidationError(
                "Select %(low)d to %(high)d different images to compare (%(count)d selected).",
                params={"low": COMPARE_MIN, "high": COMPARE_MAX, "count": len(codes)},
            )
        return codes


class ShareForm(forms.Form):
    """A share link's lifetime and what it shows; "Never" is offered only to those who may choose it."""

    LIFETIMES = [("1", "1 day"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days")]
    NEVER = "never"

    expires = forms.ChoiceField(label="Link expires after", initial="7")
    show_prompt = forms.BooleanField(required=False, label="Show the prompt")
    show_parameters = forms.BooleanField(required=False, label="Show the parameters (model, seed, size…)")

    def __init__(self, *args, forever: bool = False, **kwargs) -> None:
        kwargs.setdefault("auto_id", "share_%s")  # beside the page's other forms
        super().__init__(*args, **kwargs)
        self.fields["expires"].choices = [*self.LIFETIMES, *([(self.NEVER, "Never")] if forever else [])]

    @property
    def expires_in_days(self) -> int | None:
        value = self.cleaned_data["expires"]
        return None if value == self.NEVER else int(value)
