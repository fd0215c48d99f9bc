from django import forms
from django.contrib import admin, messages

from aiapi.models import AiModel, Provider
from aiapi.selectors import catalogue_changed


class ProviderForm(forms.ModelForm):
    # Write-only: the stored key is never rendered back into the page.
    new_api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored key. Stored encrypted; never shown again.",
    )

    class Meta:
        model = Provider
        fields = [
            "name", "kind", "base_url", "api_key_env", "active",
            "connect_timeout", "first_token_timeout", "total_timeout",
        ]  # fmt: skip

    def save(self, commit=True):
        provider = super().save(commit=False)
        if self.cleaned_data.get("new_api_key"):
            provider.set_api_key(self.cleaned_data["new_api_key"])
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["name", "kind", "base_url", "has_stored_key", "api_key_env", "active"]
    list_editable = ["active"]
    list_filter = ["kind", "active"]

    @admin.display(boolean=True, description="stored key")
    def has_stored_key(self, provider: Provider) -> bool:
        return bool(provider.api_key_encrypted)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalogue_changed()


@admin.register(AiModel)
class AiModelAdmin(admin.ModelAdmin):
    list_display = [
        "public_id", "provider", "upstream", "kind", "vision", "reasoning",
        "input_price", "output_price", "active",
    ]  # fmt: skip
    list_editable = ["active"]
    list_filter = ["active", "kind", "provider", "vision", "reasoning"]
    search_fields = ["public_id", "upstream", "display_name"]
    actions = ["activate", "deactivate"]

    @admin.action(description="Activate selected models")
    def activate(self, request, queryset):
        count = queryset.update(active=True)
        catalogue_changed()
        self.message_user(request, f"Activated {count} model(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected models")
    def deactivate(self, request, queryset):
        count = queryset.update(active=False)
        catalogue_changed()
        self.message_user(request, f"Deactivated {count} model(s).", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalogue_changed()
