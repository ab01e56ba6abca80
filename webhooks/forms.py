"""The form that registers a webhook endpoint."""

from __future__ import annotations

from django import forms

from webhooks.models import EVENT_TYPES
from webhooks.sending import WebhookURLRefused, check_url


class EndpointForm(forms.Form):
    url = forms.URLField(
        max_length=500,
        label="Endpoint URL",
        assume_scheme="https",
        help_text="An https:// URL on a public address; PixelGallery POSTs signed JSON to it.",
    )
    description = forms.CharField(max_length=100, required=False, label="Description")
    event_types = forms.MultipleChoiceField(
        choices=list(EVENT_TYPES.items()),
        widget=forms.CheckboxSelectMultiple,
        label="Events",
        error_messages={"required": "Choose at least one event."},
    )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            check_url(url)
        except WebhookURLRefused as refusal:
            raise forms.ValidationError(str(refusal)) from refusal
        return url
