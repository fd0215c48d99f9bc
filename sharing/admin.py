from django.contrib import admin

from sharing.models import ShareLink


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("conversation", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    raw_id_fields = ("conversation",)
    # The token is the link itself: operators see that a link exists, not the link.
    exclude = ("token",)
    readonly_fields = ("created_at",)
