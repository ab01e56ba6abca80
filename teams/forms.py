"""Team forms: they validate and normalise input; rules that need the database live in services."""

from __future__ import annotations

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.validators import validate_email

from teams.models import Role


def _single_spaced(value: str) -> str:
    return " ".join(value.split())


class TeamForm(forms.Form):
    name = forms.CharField(max_length=80, label="Team name")

    def clean_name(self) -> str:
        name = _single_spaced(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("Give the team a name.")
        return name


class TeamDeleteForm(forms.Form):
    """Deleting a team: its name typed out, as shown."""

    confirm = forms.CharField(max_length=200, label="Type the team's name to confirm")

    def __init__(self, *args, team_name: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team_name = team_name

    def clean_confirm(self) -> str:
        typed = _single_spaced(self.cleaned_data["confirm"])
        if typed != self.team_name:
            raise forms.ValidationError(f"Type {self.team_name} exactly as shown to delete the team.")
        return typed


class InviteForm(forms.Form):
    invitee = forms.CharField(
        max_length=254,
        label="Username or e-mail",
        help_text="The invitation link works only for this person, once, for 7 days.",
    )
    role = forms.ChoiceField(choices=[])

    def __init__(self, *args, roles: list[str], **kwargs) -> None:
        """``roles``: the roles the inviting person may grant."""
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(role, Role(role).label) for role in roles]
        self.fields["role"].initial = Role.MEMBER

    def clean_invitee(self) -> str:
        invitee = self.cleaned_data["invitee"].strip()
        if "@" in invitee:
            validate_email(invitee)
            return invitee.lower()
        try:
            UnicodeUsernameValidator()(invitee)
        except forms.ValidationError:
            raise forms.ValidationError("Enter a username or an e-mail address.") from None
        return invitee


class MemberForm(forms.Form):
    """One member of the team, named by username (never a primary key)."""

    member = forms.CharField(max_length=150)


class RoleForm(MemberForm):
    role = forms.ChoiceField(choices=Role.choices)


class InvitationForm(forms.Form):
    invitation = forms.CharField(max_length=64)
