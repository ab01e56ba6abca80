from django.contrib import admin

from generations.models import Comparison, Generation, Image, ProviderPause
from generations.services import provider_pause_clear


class ImageInline(admin.TabularInline):
    model = Image
    extra = 0
    fields = ("index", "status", "width", "height", "sha256", "file", "error_message")
    readonly_fields = fields


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "model", "num_outputs", "status", "prompt")
    list_filter = ("status", "model")
    search_fields = ("prompt", "user__username", "provider_id", "code")
    raw_id_fields = ("user", "comparison")
    date_hierarchy = "created_at"
    inlines = [ImageInline]


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "team", "prompt")
    search_fields = ("prompt", "user__username", "code")
    raw_id_fields = ("user", "team")
    date_hierarchy = "created_at"


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "generation", "index", "status", "width", "height")
    list_filter = ("status",)
    raw_id_fields = ("generation",)


@admin.register(ProviderPause)
class ProviderPauseAdmin(admin.ModelAdmin):
    list_display = ("paused_at", "code", "paused_until", "cleared_at", "cleared_by")
    readonly_fields = ("paused_at",)
    actions = ["resume_now"]

    @admin.action(description="Resume generation now")
    def resume_now(self, request, queryset) -> None:
        provider_pause_clear(user=request.user, pauses=queryset)
