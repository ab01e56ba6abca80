"""Admin for support staff. Team rules (a team keeps an owner) are enforced by the site, not here."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from teams.models import Invitation, Membership, Team
from teams.services import INVITATION_TTL


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "joined_at")
    readonly_fields = ("joined_at",)
    raw_id_fields = ("user",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "created_by", "created_at", "deleted_at")
    list_filter = (("deleted_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "code", "created_by__username")
    readonly_fields = ("code", "created_at", "deleted_at")
    raw_id_fields = ("created_by",)
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = (
        "invitee",
        "team",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
        "declined_at",
    )
    list_filter = ("role",)
    search_fields = ("invitee", "team__name", "team__code")
    readonly_fields = ("token", "created_at", "accepted_at", "accepted_by", "declined_at")
    raw_id_fields = ("team", "invited_by")
    date_hierarchy = "created_at"

    def get_changeform_initial_data(self, request) -> dict:
        return {"expires_at": timezone.now() + INVITATION_TTL, **super().get_changeform_initial_data(request)}
