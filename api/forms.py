"""The form that creates an API token on ``/settings/tokens/``."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from api.models import Scope
from teams.permissions import memberships_of

PERSONAL = ""
EXPIRIES = {"30": "30 days", "90": "90 days", "365": "One year", "": "Never"}


class TokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What it is for, e.g. “nightly batch”.")
    team = forms.ChoiceField(label="Acts in", help_text="The token acts as you, with your role there.")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Scope.READ],
        help_text="What the token may do; your role in the team still decides the rest.",
    )
    expires = forms.ChoiceField(choices=list(EXPIRIES.items()), initial="90", required=False, label="Expires")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.teams = {str(m.team.code): m.team for m in memberships_of(user).values()}
        choices = [(PERSONAL, "Personal (your own images)")]
        choices += sorted(
            ((code, team.name) for code, team in self.teams.items()), key=lambda c: c[1].lower()
        )
        self.fields["team"].choices = choices
        self.fields["team"].required = False

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("Give the token a name.")
        return name

    @property
    def chosen_team(self):
        return self.teams.get(self.cleaned_data.get("team") or PERSONAL)

    @property
    def expires_at(self):
        days = self.cleaned_data.get("expires")
        return timezone.now() + timedelta(days=int(days)) if days else None
