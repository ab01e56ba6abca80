"""Operators' admin for credits: the ledger stays append-only, corrections go through the services.

* Ledger rows are read-only once written. Operators may *add* refunds and top-ups (never charges: those
  come from PixelDojo's answers); the add form goes through ``ledger_refund``/``ledger_top_up`` so the daily
  roll-up moves in the same transaction.
* Budgets are editable; budget alerts and the daily roll-up are read-only (the roll-up can be rebuilt from
  the ledger with an action, or ``manage.py rebuild_spend_rollup``).
"""

from __future__ import annotations

import time

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from credits.amounts import QUANTUM, format_credits
from credits.forms import CreditsField
from credits.models import (
    Budget,
    BudgetAlert,
    DailyPromptSpend,
    DailySpend,
    LedgerEntry,
    ProviderBalance,
    Reuse,
)
from credits.services import ledger_refund, ledger_top_up, spend_rollup_rebuild
from teams.models import Membership

Kind = LedgerEntry.Kind


class ModelFilter(admin.SimpleListFilter):
    """The models the roll-up has seen: those the ledger has spend rows of (without scanning the ledger)."""

    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        seen = DailySpend.objects.order_by().values_list("model", flat=True).distinct()
        return [(name, name or "(none)") for name in sorted(seen)]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset if value is None else queryset.filter(model=value)


class LedgerEntryAddForm(forms.ModelForm):
    """A refund (to a user, optionally for a generation) or a top-up (to a team), in positive credits."""

    kind = forms.ChoiceField(
        choices=[
            (Kind.REFUND, "Refund: give credits back to a user (stored as negative spend)"),
            (Kind.TOP_UP, "Top-up: credits added to a team's PixelDojo allowance"),
        ]
    )
    credits = CreditsField(
        min_value=QUANTUM,
        help_text="A positive number, decimals allowed (e.g. 1.5). A refund of 3 is stored as -3 credits "
        "of spend.",
        error_messages={"min_value": "Enter a positive number of credits (a refund is stored negative)."},
    )

    class Meta:
        model = LedgerEntry
        fields = ("kind", "user", "team", "generation", "credits", "note")
        help_texts = {
            "user": "Refunds: who gets the credits back (taken from the generation when empty).",
            "team": "Refunds: the team whose spend it lowers (taken from the generation when empty); "
            "top-ups: the team whose allowance grows.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].required = False

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        generation = cleaned.get("generation")
        if kind == Kind.REFUND:
            if generation is not None:
                user, team = cleaned.get("user"), cleaned.get("team")
                if user is not None and user.pk != generation.user_id:
                    self.add_error("user", "This is not the user of that generation.")
                if team is not None and team.pk != generation.team_id:
                    self.add_error("team", "That generation was not made in this team.")
                cleaned["user"] = user or generation.user
                if team is None and generation.team_id:
                    cleaned["team"] = generation.team
            if cleaned.get("user") is None and "user" not in self.errors:
                self.add_error("user", "A refund goes back to a user: pick one, or a generation.")
        elif kind == Kind.TOP_UP:
            if cleaned.get("team") is None and "team" not in self.errors:
                self.add_error("team", "A top-up is for a team: pick one.")
            if generation is not None:
                self.add_error("generation", "A top-up is not for a generation: leave this empty.")
            if cleaned.get("user") is not None:
                self.add_error("user", "A top-up is recorded under your name: leave this empty.")
        return cleaned


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "kind",
        "amount",
        "user",
        "team",
        "model",
        "generation",
        "note",
        "created_by",
    )
    list_filter = ("kind", ModelFilter, "team")
    list_select_related = ("user", "team", "generation", "created_by")
    search_fields = ("user__username", "team__name", "note")
    raw_id_fields = ("user", "team", "generation", "image")
    date_hierarchy = "created_at"
    show_full_result_count = False  # the ledger is large: no second COUNT(*) per page
    list_per_page = 50

    @admin.display(description="credits", ordering="credits")
    def amount(self, obj: LedgerEntry) -> str:
        return format_credits(obj.credits, grouping=True)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # append-only: a mistake is corrected by adding a refund

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = LedgerEntryAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(LedgerEntryAddForm.Meta.fields)
        return [*(f.name for f in LedgerEntry._meta.concrete_fields if f.name != "id")]

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            raise PermissionDenied("Ledger entries are append-only.")
        data = form.cleaned_data
        if data["kind"] == Kind.REFUND:
            entry = ledger_refund(
                actor=request.user,
                user=data["user"],
                team=data["team"],
                credits=data["credits"],
                note=data["note"],
                generation=data["generation"],
            )
        else:
            entry = ledger_top_up(
                actor=request.user, team=data["team"], credits=data["credits"], note=data["note"]
            )
        # The admin goes on with ``obj`` (history, message, redirect): make it the row the service stored.
        for model_field in LedgerEntry._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(entry, model_field.attname))
        obj._state.adding = False
        obj._state.db = entry._state.db

    def save_related(self, request, form, formsets, change) -> None:
        """Nothing else to save (no many-to-many fields); the service already wrote the row."""


class BudgetAdminForm(forms.ModelForm):
    monthly_credits = CreditsField(
        min_value=0,
        label="Monthly credits",
        error_messages={"min_value": "A budget cannot be negative; enter 0 to stop all spending."},
    )

    class Meta:
        model = Budget
        fields = ("team", "user", "monthly_credits")

    def clean(self) -> dict:
        cleaned = super().clean()
        team, user = cleaned.get("team"), cleaned.get("user")
        if (
            team is not None
            and user is not None
            and not Membership.objects.filter(team=team, user=user).exists()
        ):
            self.add_error("user", "This user is not a member of the team.")
        return cleaned


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    form = BudgetAdminForm
    list_display = ("team", "user", "monthly_credits", "updated_by", "updated_at")
    list_select_related = ("team", "user", "updated_by")
    search_fields = ("team__name", "user__username")
    raw_id_fields = ("team", "user")
    readonly_fields = ("updated_by", "updated_at")

    def save_model(self, request, obj, form, change) -> None:
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BudgetAlert)
class BudgetAlertAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "budget", "month", "threshold", "spent", "limit", "notified")
    list_filter = ("threshold", "month")
    list_select_related = ("budget__team", "budget__user")
    search_fields = ("budget__team__name", "budget__user__username")
    date_hierarchy = "created_at"


@admin.register(DailyPromptSpend)
class DailyPromptSpendAdmin(ReadOnlyAdmin):
    list_display = ("day", "team", "prompt", "credits")
    list_select_related = ("team",)
    search_fields = ("prompt", "team__name")
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(DailySpend)
class DailySpendAdmin(ReadOnlyAdmin):
    list_display = ("day", "team", "user", "model", "credits")
    list_filter = ("model", "team")
    list_select_related = ("team", "user")
    search_fields = ("user__username", "team__name")
    date_hierarchy = "day"
    show_full_result_count = False
    actions = ["rebuild_rollup"]

    def has_rebuild_permission(self, request) -> bool:
        return request.user.is_superuser

    @admin.action(
        description="Rebuild the roll-ups (daily and per prompt) from the ledger (ignores the selection)",
        permissions=["rebuild"],
    )
    def rebuild_rollup(self, request, queryset) -> None:
        started = time.monotonic()
        rows = spend_rollup_rebuild()
        self.message_user(
            request,
            f"Rebuilt the daily roll-up from the ledger: {rows:,} row{'' if rows == 1 else 's'} "
            f"in {time.monotonic() - started:.1f} s.",
            messages.SUCCESS,
        )


@admin.register(ProviderBalance)
class ProviderBalanceAdmin(ReadOnlyAdmin):
    list_display = ("reported_at", "credits")
    date_hierarchy = "reported_at"
    show_full_result_count = False


@admin.register(Reuse)
class ReuseAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "team", "model", "generation_id", "credits")
    list_select_related = ("team", "user")
    search_fields = ("user__username", "team__name")
    date_hierarchy = "created_at"
    show_full_result_count = False
