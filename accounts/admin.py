from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.api_keys import api_key_revoke
from accounts.models import ApiKey, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "is_active", "is_staff", "date_joined"]
    search_fields = ["email", "display_name"]
    fieldsets = (
        (None, {"fields": ("email", "password", "display_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            # Deactivated: its open sockets are closed too (accounts/services.user_deactivate).
            from accounts.services import user_deactivate

            user_deactivate(user=obj)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "expires_at", "revoked"]
    list_filter = ["revoked"]
    search_fields = ["prefix", "name", "user__email"]
    # The hash is never shown: it is not in `fields`, and keys are created by their owner only.
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "user",
                    "name",
                    "prefix",
                    "created_at",
                    "last_used_at",
                    "expires_at",
                    "revoked",
                    "revoked_at",
                    "monthly_spend_limit",
                ]
            },
        ),
        (
            "Rate limits of this key (empty: the owner's plan decides)",
            {
                "fields": [
                    ("chat_requests_per_minute", "chat_tokens_per_minute"),
                    "transcription_requests_per_minute",
                    "image_requests_per_minute",
                    "convert_requests_per_minute",
                    "api_requests_per_minute",
                ]
            },
        ),
    ]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at", "revoked", "revoked_at"]
    actions = ["revoke_keys"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset):
        count = 0
        for api_key in queryset.filter(revoked=False):
            api_key_revoke(api_key=api_key)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
