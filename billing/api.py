"""Billing endpoints under /v1/billing/: one small view per action; the rules live in
billing/services/. Callers authenticate with an API key or the web app's session (CSRF
checked); what spends money or changes the subscription (checkout, the Customer Portal) takes
the session only."""

from django.conf import settings
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.session_only import SessionOnly
from billing.entitlements import FREE_PLAN_SLUG
from billing.models import Invoice, Plan, Subscription
from billing.money import format_usd
from billing.selectors import invoice_list, plan_list, plan_price_id


def _when(moment) -> int | None:
    return int(moment.timestamp()) if moment else None


def _subscription_payload(subscription: Subscription | None) -> dict | None:
    if subscription is None:
        return None
    return {
        "id": subscription.stripe_id,
        "plan": subscription.plan.slug if subscription.plan else None,
        "status": subscription.status,
        "current_period_end": _when(subscription.current_period_end),
        "cancel_at_period_end": subscription.cancel_at_period_end,
    }


def plan_payload(plan: Plan) -> dict:
    return {
        "id": plan.slug,
        "name": plan.name,
        "monthly_price": format_usd(plan.monthly_price),
        "monthly_allowance": format_usd(plan.monthly_allowance),
        "currency": settings.CURRENCY,
        "premium_models": plan.includes_premium_models,
        "purchasable": bool(plan_price_id(plan=plan)),
    }


class PlanListApi(APIView):
    """Public: what can be bought."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get(self, request):
        return Response({"object": "list", "data": [plan_payload(p) for p in plan_list()]})


class CheckoutApi(SessionOnly, APIView):
    class InputSerializer(serializers.Serializer):
        plan = serializers.SlugField(required=False, max_length=40)
        topup_usd = serializers.DecimalField(
            required=False, max_digits=10, decimal_places=2, coerce_to_string=False
        )

        def validate(self, data):
            if ("plan" in data) == ("topup_usd" in data):
                raise serializers.ValidationError(
                    'Send either "plan" (a plan id) or "topup_usd" (an amount in USD).'
                )
            amount = data.get("topup_usd")
            if amount is not None and not (
                settings.TOPUP_MIN_USD <= amount <= settings.TOPUP_MAX_USD
            ):
                raise serializers.ValidationError(
                    {
                        "topup_usd": f"must be between {format_usd(settings.TOPUP_MIN_USD)} "
                        f"and {format_usd(settings.TOPUP_MAX_USD)} USD."
                    }
                )
            return data

    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # The Stripe services are imported where used: the SDK (with requests and httpx) costs
        # every API worker ~20 MB, and few requests reach it.
        from billing.services.checkout import checkout_session_for_plan, checkout_session_for_topup

        if "plan" in data:
            url = checkout_session_for_plan(user=request.user, plan_slug=data["plan"])
        else:
            url = checkout_session_for_topup(user=request.user, amount=data["topup_usd"])
        return Response({"url": url}, status=201)


class PortalApi(SessionOnly, APIView):
    def post(self, request):
        from billing.services.portal import portal_session_create

        return Response({"url": portal_session_create(user=request.user)}, status=201)


class SyncApi(APIView):
    def post(self, request):
        from billing.services.sync import billing_sync

        result = billing_sync(user=request.user)
        current = result.current
        return Response(
            {
                "plan": current.plan.slug if current and current.plan else FREE_PLAN_SLUG,
                "subscription": _subscription_payload(current),
                "subscriptions_synced": result.subscriptions,
                "invoices_synced": result.invoices,
            }
        )


class InvoiceListApi(APIView):
    def get(self, request):
        return Response(
            {"object": "list", "data": [self._invoice(i) for i in invoice_list(user=request.user)]}
        )

    @staticmethod
    def _invoice(invoice: Invoice) -> dict:
        return {
            "id": invoice.stripe_id,
            "number": invoice.number or None,
            "status": invoice.status,
            "currency": invoice.currency,
            "amount_due": format_usd(invoice.amount_due),
            "amount_paid": format_usd(invoice.amount_paid),
            "period_start": _when(invoice.period_start),
            "period_end": _when(invoice.period_end),
            "hosted_invoice_url": invoice.hosted_invoice_url or None,
            "invoice_pdf": invoice.invoice_pdf or None,
            "created": _when(invoice.created),
        }
