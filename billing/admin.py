from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect, render

from billing.ledger import ledger_post
from billing.models import CreditAccount, LedgerEntry


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
