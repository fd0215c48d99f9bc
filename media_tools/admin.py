from django.contrib import admin

from media_tools.models import MediaJob


@admin.register(MediaJob)
class MediaJobAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "kind", "status", "progress", "model", "cost", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("id", "owner__email", "request_id")
    readonly_fields = [field.name for field in MediaJob._meta.fields]

    def has_add_permission(self, request):
        return False
