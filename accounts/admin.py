from allauth.account import admin as allauth_admin
from allauth.account.models import EmailAddress
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.api_keys import api_key_revoke
from accounts.model_allow_list import active_model_ids, clean_allowed_models
from accounts.models import AccountEmailAddress, ApiKey, User


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


class ApiKeyForm(forms.ModelForm):
    """The allow-list as checkboxes of the active catalogue's models; none ticked: every model."""

    allowed_models = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick none to let this key use every model its owner's plan has.",
    )

    class Meta:
        model = ApiKey
        fields = ["allowed_models"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        active = active_model_ids()
        # A stored id whose model was since deactivated stays visible, so it can be unticked.
        stored = [m for m in (self.instance.allowed_models or []) if m not in active]
        self.fields["allowed_models"].choices = [(m, m) for m in sorted(active)] + [
            (m, f"{m} (not active)") for m in stored
        ]

    def clean_allowed_models(self):
        chosen = self.cleaned_data.get("allowed_models") or []
        keep = set(self.instance.allowed_models or [])
        try:
            return clean_allowed_models(
                model_ids=list(chosen), known_ids=[*active_model_ids(), *keep]
            )
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
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
        ("Models this key may use", {"fields": ["allowed_models"]}),
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The cached principal carries the key's limits and allow-list: drop it here at once.
        from accounts.authentication import forget_cached_key

        forget_cached_key(obj.hashed_key)

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


# allauth's addresses under Accounts, beside the users they belong to (allauth's admin is
# imported above so that its registration has run before it is undone here).
admin.site.unregister(EmailAddress)
admin.site.register(AccountEmailAddress, allauth_admin.EmailAddressAdmin)
