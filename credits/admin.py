from django.contrib import admin

from credits.models import LedgerEntry


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "user", "model", "credits", "generation")
    list_filter = ("kind", "model")
    search_fields = ("user__username", "note")
    raw_id_fields = ("user", "generation", "image")
    date_hierarchy = "created_at"
