"""Forms of the team's credits page: budgets, allowance top-ups and the ledger export's date range."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django import forms

from credits.amounts import MAX_DIGITS, PLACES, QUANTUM

MAX_CREDITS = 10_000_000
TEAM_SCOPE = "team"
DATE_FORMAT = "%Y-%m-%d"


class CreditsField(forms.DecimalField):
    """An amount of credits typed by a person: a number with at most 4 decimal places (12.5), not NaN."""

    default_error_messages = {
        "invalid": "Enter a number of credits, for example 12 or 12.5.",
        "max_value": f"Enter at most {MAX_CREDITS:,} credits.",
        "max_digits": f"Enter at most {MAX_CREDITS:,} credits.",
        "max_whole_digits": f"Enter at most {MAX_CREDITS:,} credits.",
        "max_decimal_places": f"Use at most {PLACES} decimal places.",
    }

    def __init__(self, *, min_value: Decimal | int, **kwargs) -> None:
        kwargs.setdefault("max_value", MAX_CREDITS)
        super().__init__(min_value=min_value, max_digits=MAX_DIGITS, decimal_places=PLACES, **kwargs)

    def widget_attrs(self, widget) -> dict:
        attrs = super().widget_attrs(widget)
        attrs.update({"step": "any", "inputmode": "decimal"})
        return attrs


class BudgetForm(forms.Form):
    """Set or remove the team's monthly budget, or one member's."""

    scope = forms.ChoiceField(label="Budget for")
    monthly_credits = CreditsField(
        label="Credits per month",
        required=False,
        min_value=0,
        error_messages={"min_value": "A budget cannot be negative; enter 0 to stop all spending."},
        help_text="Submissions that would go over it are refused. Alerts at 80 % and 100 %, and when the "
        "last 7 days' rate would use it up before the month ends. Decimals are fine, e.g. 12.5.",
    )
    remove = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, memberships: Iterable, team_name: str, former: Iterable = (), **kwargs) -> None:
        """``former``: people who left the team but still have a budget in it (it can only be removed)."""
        super().__init__(*args, **kwargs)
        self.members = {m.user.get_username(): m.user for m in memberships}
        self.former = {
            user.get_username(): user for user in former if user.get_username() not in self.members
        }
        self.fields["scope"].choices = [
            (TEAM_SCOPE, f"The whole team ({team_name})"),
            *((name, name) for name in sorted(self.members, key=str.lower)),
            *((name, f"{name} (no longer a member)") for name in sorted(self.former, key=str.lower)),
        ]

    def clean_scope(self):
        """The member the budget is for, or ``None`` for the team's own budget."""
        scope = self.cleaned_data["scope"]
        if scope == TEAM_SCOPE:
            return None
        if scope in self.former:
            return self.former[scope]
        if scope not in self.members:
            raise forms.ValidationError("Pick the team or one of its members.")
        return self.members[scope]

    def clean_monthly_credits(self) -> Decimal | None:
        value = self.cleaned_data.get("monthly_credits")
        if value is None and not self.data.get(self.add_prefix("remove")):
            raise forms.ValidationError("Enter the monthly credits, or remove the budget.")
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("remove"):
            cleaned["monthly_credits"] = None
            self.errors.pop("monthly_credits", None)
        elif cleaned.get("scope") is not None and cleaned["scope"] in self.former.values():
            self.add_error("scope", "They left the team: their budget can only be removed.")
        return cleaned


class TopUpForm(forms.Form):
    """Credits added to the team's PixelDojo allowance."""

    credits = CreditsField(
        label="Credits added",
        min_value=QUANTUM,
        error_messages={
            "required": "Enter how many credits were added.",
            "min_value": "A top-up adds more than 0 credits.",
        },
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=255,
        help_text="For example the invoice or plan, so others know where it came from.",
    )

    def clean_note(self) -> str:
        return " ".join(self.cleaned_data["note"].split())


class ExportForm(forms.Form):
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD``: both days included."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, label in (("from", "From"), ("to", "To")):
            self.fields[name] = forms.DateField(
                label=label,
                input_formats=[DATE_FORMAT],
                widget=forms.DateInput(format=DATE_FORMAT, attrs={"type": "date"}),
                error_messages={
                    "required": "Enter a date as YYYY-MM-DD.",
                    "invalid": "Enter a real date as YYYY-MM-DD, for example 2026-11-03.",
                },
            )

    def clean_to(self) -> date:
        end = self.cleaned_data["to"]
        start = self.cleaned_data.get("from")
        if start is not None and end < start:
            raise forms.ValidationError("The end date comes before the start date.")
        return end
