from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone

from billing import operator_reports
from billing.entitlements import entitlements_changed
from billing.ledger import ledger_post
from billing.models import (
    CreditAccount,
    Invoice,
    KeySpend,
    LedgerEntry,
    Plan,
    ServerProcess,
    StripeCustomer,
    StripeEvent,
    Subscription,
    UsageRecord,
)


class AdjustmentForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=20, decimal_places=6, help_text="USD; negative to take credit away"
    )
    reason = forms.CharField(max_length=300)

    def clean_amount(self) -> Decimal:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment of zero changes nothing.")
        return amount


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    list_display = ["user", "balance", "updated_at"]
    search_fields = ["user__email"]
    readonly_fields = ["user", "balance", "updated_at"]
    actions = ["adjust_credits"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Grant or adjust credits (with a reason)")
    def adjust_credits(self, request, queryset):
        if "apply" in request.POST:
            form = AdjustmentForm(request.POST)
            if form.is_valid():
                amount = form.cleaned_data["amount"]
                for account in queryset.select_related("user"):
                    ledger_post(
                        user=account.user,
                        amount=amount,
                        kind=LedgerEntry.Kind.GRANT if amount > 0 else LedgerEntry.Kind.ADJUSTMENT,
                        description=form.cleaned_data["reason"],
                        created_by=request.user,
                    )
                self.message_user(
                    request,
                    f"Posted {amount} USD to {queryset.count()} account(s).",
                    messages.SUCCESS,
                )
                return redirect(request.get_full_path())
        else:
            form = AdjustmentForm()
        return render(
            request,
            "admin/billing/adjust_credits.html",
            {
                "form": form,
                "accounts": queryset,
                "opts": self.model._meta,
                "action": "adjust_credits",
            },
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "account", "kind", "amount", "balance_after", "reference"]
    list_filter = ["kind"]
    search_fields = ["account__user__email", "reference", "description"]

    # Immutable: rows are only ever added by the ledger services.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name", "slug", "monthly_price", "monthly_allowance", "stripe_price_id",
        "includes_premium_models", "active", "sort_order",
    ]  # fmt: skip
    list_editable = ["active", "sort_order"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "slug",
                    "monthly_price",
                    "monthly_allowance",
                    "stripe_price_id",
                    "includes_premium_models",
                    "active",
                    "sort_order",
                ]
            },
        ),
        (
            "Rate limits per user and per API key (a key's own limits override these)",
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

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        entitlements_changed()  # what a plan includes may have changed for everyone on it


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that mirror Stripe: written by webhooks and sync only."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = [
        "stripe_id", "user", "plan", "status", "current_period_end", "cancel_at_period_end",
    ]  # fmt: skip
    list_filter = ["status", "plan"]
    search_fields = ["stripe_id", "user__email"]


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ["user", "stripe_id", "created_at"]
    search_fields = ["stripe_id", "user__email"]


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["stripe_id", "user", "status", "amount_due", "currency", "period_start"]
    list_filter = ["status"]
    search_fields = ["stripe_id", "number", "user__email"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "status", "livemode", "processed_at"]
    list_filter = ["status", "type"]
    search_fields = ["event_id"]


@admin.register(KeySpend)
class KeySpendAdmin(ReadOnlyAdmin):
    list_display = ["api_key", "month", "spent", "reserved"]
    list_filter = ["month"]


class _BusiestFilter(admin.SimpleListFilter):
    """The 20 that made the most requests in the last 30 days, to pick one (search by email
    finds the others)."""

    field = ""

    def lookups(self, request, model_admin):
        since = timezone.now() - timedelta(days=30)
        busiest = (
            UsageRecord.objects.filter(created_at__gte=since, **{f"{self.field}__isnull": False})
            .values(self.field, self.label_field)
            .annotate(n=Count("id"))
            .order_by("-n")[:20]
        )
        return [(str(row[self.field]), row[self.label_field]) for row in busiest]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(**{self.field: int(self.value())})
        return queryset


class BusiestUserFilter(_BusiestFilter):
    title = "user"
    parameter_name = "user"
    field, label_field = "user_id", "user__email"


class BusiestKeyFilter(_BusiestFilter):
    title = "API key"
    parameter_name = "key"
    field, label_field = "api_key_id", "api_key__prefix"


class DiscrepancyFilter(admin.SimpleListFilter):
    """Requests whose usage went past their hold: a provider over-reporting, or generating
    past max_tokens. Charged the hold; the rest is the discrepancy."""

    title = "usage beyond the hold"
    parameter_name = "discrepancy"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(discrepancy__gt=0)
        if self.value() == "no":
            return queryset.filter(discrepancy=0)
        return queryset


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    """Written by settlement only, with its ledger row: never edited by hand."""

    list_display = [
        "created_at",
        "user",
        "endpoint",
        "model",
        "provider",
        "total_tokens",
        "cost",
        "discrepancy",
        "status",
    ]
    list_filter = [
        DiscrepancyFilter, BusiestUserFilter, BusiestKeyFilter, "status", "endpoint", "model",
        "provider", "tokens_estimated",
    ]  # fmt: skip
    search_fields = ["request_id", "user__email", "model"]
    date_hierarchy = "created_at"
    change_list_template = "admin/billing/usagerecord/change_list.html"

    def get_urls(self):
        reports = [
            path("spend/", self.admin_site.admin_view(self.spend_view), name="billing_spend"),
            path(
                "providers/",
                self.admin_site.admin_view(self.provider_health_view),
                name="billing_provider_health",
            ),
        ]
        return reports + super().get_urls()

    def _report(self, request, template: str, **context):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return render(
            request,
            template,
            {**self.admin_site.each_context(request), "opts": self.model._meta, **context},
        )

    def spend_view(self, request):
        return self._report(
            request,
            "admin/billing/spend.html",
            title="Spend by day",
            by_model=operator_reports.spend_by_day(by="model"),
            by_provider=operator_reports.spend_by_day(by="provider"),
        )

    def provider_health_view(self, request):
        return self._report(
            request,
            "admin/billing/provider_health.html",
            title="Provider health, last hour",
            providers=operator_reports.provider_health(),
        )


@admin.register(ServerProcess)
class ServerProcessAdmin(ReadOnlyAdmin):
    list_display = ["id", "started_at", "heartbeat_at"]
