"""The user endpoints: who am I and what is left (status), what did I use (usage, CSV), my API
keys, and account actions. Thin views: they validate, call a selector or service, render."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.contrib.auth import logout, update_session_auth_hash
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.account_deletion import account_delete
from accounts.api_keys import api_key_create, api_key_revoke, api_key_update
from accounts.authentication import KeyPrincipal
from accounts.data_exports import data_export_request, data_export_take
from accounts.model_allow_list import (
    MAX_ALLOWED_MODELS,
    active_model_ids,
    clean_allowed_models,
)
from accounts.models import ApiKey, DataExport
from accounts.rate_limits import rate_status
from accounts.selectors import (
    UsageFilters,
    api_key_list,
    month_start,
    usage_daily,
    usage_records,
    usage_this_month,
    usage_totals,
)
from accounts.services import user_email_change_request, user_password_change
from accounts.session_only import SessionOnly
from billing.entitlements import entitlements_for
from billing.money import format_usd
from billing.selectors import balance_of, held_of, key_spent_this_month
from chukchat.errors import ApiError
from chukchat.pagination import PageSerializer, page_payload

MAX_KEYS = 50


def money(amount: Decimal | None) -> str:
    return format_usd(amount) if amount is not None else "0"


def this_month_payload(*, user) -> dict:
    """This calendar month's (UTC) usage and spend: the status endpoint's `thisMonth`."""
    month = usage_this_month(user=user)
    return {
        "since": month_start().isoformat(),
        "requests": month.requests,
        "inputTokens": month.prompt_tokens,
        "outputTokens": month.completion_tokens,
        "spend": money(month.cost),
    }


class UserStatusApi(APIView):
    """Who the caller is, their plan, what they have left and what they used this month."""

    def get(self, request):
        user = request.user
        key = request.auth if isinstance(request.auth, KeyPrincipal) else None
        entitlements = entitlements_for(user_id=user.pk)
        return Response(
            {
                "email": user.email,
                "plan": {
                    "slug": entitlements.plan_slug,
                    "premiumModels": entitlements.premium_models,
                },
                "credits": {
                    "balance": money(balance_of(user=user)),
                    "held": money(held_of(user=user)),
                    "currency": "usd",
                },
                "thisMonth": this_month_payload(user=user),
                "rateLimits": rate_status(
                    user_id=user.pk,
                    api_key_id=key.key_id if key else None,
                    overrides=key.rate_overrides if key else {},
                ),
                "key": (
                    {
                        "prefix": key.prefix,
                        "name": key.name,
                        "monthlySpendLimit": (
                            money(key.monthly_spend_limit)
                            if key.monthly_spend_limit is not None
                            else None
                        ),
                        "spentThisMonth": money(key_spent_this_month(api_key_id=key.key_id)),
                    }
                    if key
                    else None
                ),
            }
        )


def key_payload(api_key: ApiKey) -> dict:
    return {
        "id": api_key.pk,
        "name": api_key.name,
        "prefix": api_key.prefix,
        "createdAt": api_key.created_at.isoformat(),
        "lastUsedAt": api_key.last_used_at.isoformat() if api_key.last_used_at else None,
        "expiresAt": api_key.expires_at.isoformat() if api_key.expires_at else None,
        "revoked": api_key.revoked,
        "monthlySpendLimit": (
            money(api_key.monthly_spend_limit) if api_key.monthly_spend_limit is not None else None
        ),
        "allowedModels": list(api_key.allowed_models or []),
    }


@extend_schema_field({"type": "array", "items": {"type": "string"}, "maxItems": MAX_ALLOWED_MODELS})
class AllowedModelsField(serializers.Field):
    """A list of public model ids of the active catalogue; null or [] allows every model."""

    def to_internal_value(self, data):
        try:
            return clean_allowed_models(model_ids=data, known_ids=active_model_ids())
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None

    def to_representation(self, value):
        return value


class ApiKeyListApi(SessionOnly, APIView):
    class CreateSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, allow_blank=False)
        expires_at = serializers.DateTimeField(required=False, allow_null=True)
        monthly_spend_limit = serializers.DecimalField(
            max_digits=14, decimal_places=4, required=False, allow_null=True, min_value=Decimal(0)
        )
        allowed_models = AllowedModelsField(required=False, allow_null=True)

        def validate_expires_at(self, value):
            from django.utils import timezone

            if value is not None and value <= timezone.now():
                raise serializers.ValidationError("must be in the future")
            return value

    def get(self, request):
        return Response(
            {"object": "list", "data": [key_payload(k) for k in api_key_list(user=request.user)]}
        )

    def post(self, request):
        data = self.CreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if api_key_list(user=request.user).filter(revoked=False).count() >= MAX_KEYS:
            raise ApiError(
                400, "too_many_keys", f"At most {MAX_KEYS} active keys; revoke one first."
            )
        api_key, plaintext = api_key_create(
            user=request.user,
            name=data.validated_data["name"].strip(),
            expires_at=data.validated_data.get("expires_at"),
            monthly_spend_limit=data.validated_data.get("monthly_spend_limit"),
            allowed_models=data.validated_data.get("allowed_models"),
        )
        # The only time the plaintext is ever shown.
        return Response({**key_payload(api_key), "key": plaintext}, status=201)


class ApiKeyDetailApi(SessionOnly, APIView):
    class UpdateSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, allow_blank=False, required=False)
        allowed_models = AllowedModelsField(required=False, allow_null=True)

    def _key(self, request, key_id: int) -> ApiKey:
        api_key = api_key_list(user=request.user).filter(pk=key_id).first()
        if api_key is None:
            raise ApiError(404, "key_not_found", "No such API key.")
        return api_key

    def patch(self, request, key_id: int):
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        name = data.validated_data.get("name")
        allowed = None  # not sent: unchanged; null or []: every model
        if "allowed_models" in data.validated_data:
            allowed = data.validated_data["allowed_models"] or []
        api_key = api_key_update(
            api_key=self._key(request, key_id),
            name=name.strip() if name is not None else None,
            allowed_models=allowed,
        )
        return Response(key_payload(api_key))

    def delete(self, request, key_id: int):
        """Revokes: the key stops working everywhere within seconds; its row stays so past
        usage still names it."""
        api_key = api_key_revoke(api_key=self._key(request, key_id))
        return Response(key_payload(api_key))


class UsageFilterSerializer(PageSerializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    model = serializers.CharField(required=False, max_length=128)
    key = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"end": "must not be before start"})
        return attrs


def _usage_filters(request) -> tuple[UsageFilters, dict]:
    params = UsageFilterSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    data = params.validated_data
    return (
        UsageFilters(
            start=data.get("start"),
            end=data.get("end"),
            model=data.get("model"),
            api_key_id=data.get("key"),
        ),
        data,
    )


def record_payload(record) -> dict:
    return {
        "requestId": record.request_id,
        "createdAt": record.created_at.isoformat(),
        "endpoint": record.endpoint,
        "model": record.model,
        "provider": record.provider or None,
        "keyId": record.api_key_id,
        "inputTokens": record.prompt_tokens,
        "outputTokens": record.completion_tokens,
        "totalTokens": record.total_tokens,
        "units": money(record.units) if record.units else "0",
        "cost": money(record.cost),
        "latencyMs": record.latency_ms,
        "status": record.status,
        "errorCode": record.error_code or None,
    }


class UsageApi(APIView):
    def get(self, request):
        filters, params = _usage_filters(request)
        records = usage_records(user=request.user, filters=filters)
        totals = usage_totals(records=records)
        return Response(
            {
                **page_payload(
                    records, offset=params["offset"], limit=params["limit"], render=record_payload
                ),
                "totals": {
                    "requests": totals.requests,
                    "inputTokens": totals.prompt_tokens,
                    "outputTokens": totals.completion_tokens,
                    "totalTokens": totals.total_tokens,
                    "cost": money(totals.cost),
                },
                "daily": [
                    {
                        "date": row["day"].isoformat(),
                        "model": row["model"],
                        "requests": row["requests"],
                        "inputTokens": row["prompt_tokens"] or 0,
                        "outputTokens": row["completion_tokens"] or 0,
                        "cost": money(row["cost"]),
                    }
                    for row in usage_daily(records=records)
                ],
            }
        )


CSV_COLUMNS = [
    "requestId", "createdAt", "endpoint", "model", "provider", "keyId", "inputTokens",
    "outputTokens", "totalTokens", "units", "cost", "latencyMs", "status", "errorCode",
]  # fmt: skip


class UsageCsvApi(APIView):
    def get(self, request):
        filters, _ = _usage_filters(request)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for record in usage_records(user=request.user, filters=filters).iterator(chunk_size=2000):
            writer.writerow(
                {k: ("" if v is None else v) for k, v in record_payload(record).items()}
            )
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="chuk-usage.csv"'
        return response


class PasswordChangeApi(SessionOnly, APIView):
    class InputSerializer(serializers.Serializer):
        current_password = serializers.CharField(trim_whitespace=False)
        new_password = serializers.CharField(trim_whitespace=False, max_length=200)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_password_change(user=request.user, **data.validated_data)
        update_session_auth_hash(request._request, request.user)  # stay signed in here
        return Response({"ok": True})


class EmailChangeApi(SessionOnly, APIView):
    class InputSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=254)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pending = user_email_change_request(
            request=request._request, user=request.user, email=data.validated_data["email"]
        )
        return Response({"pendingEmail": pending, "verificationSent": True}, status=202)


def export_payload(export: DataExport) -> dict:
    return {
        "id": export.pk,
        "status": export.status,
        "size": export.size,
        "createdAt": export.created_at.isoformat(),
        "readyAt": export.finished_at.isoformat() if export.finished_at else None,
        "expiresAt": export.expires_at.isoformat() if export.expires_at else None,
        "downloadUrl": (
            f"/v1/user/exports/{export.pk}/download"
            if export.status == DataExport.Status.READY
            else None
        ),
    }


class DataExportListApi(SessionOnly, APIView):
    def get(self, request):
        exports = DataExport.objects.filter(user=request.user)[:20]
        return Response({"object": "list", "data": [export_payload(e) for e in exports]})

    def post(self, request):
        export = data_export_request(user=request.user)
        export.refresh_from_db()  # built already when Celery runs eagerly
        return Response(export_payload(export), status=202)


class DataExportDetailApi(SessionOnly, APIView):
    def get(self, request, export_id: int):
        export = DataExport.objects.filter(pk=export_id, user=request.user).first()
        if export is None:
            raise ApiError(404, "export_not_found", "No such export.")
        return Response(export_payload(export))


class DataExportDownloadApi(SessionOnly, APIView):
    def get(self, request, export_id: int):
        name, content = data_export_take(user=request.user, export_id=export_id)
        response = HttpResponse(content, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response


class AccountDeleteApi(SessionOnly, APIView):
    class InputSerializer(serializers.Serializer):
        confirm = serializers.CharField(max_length=254)
        password = serializers.CharField(trim_whitespace=False)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account_delete(
            user=request.user,
            password=data.validated_data["password"],
            confirm_email=data.validated_data["confirm"],
        )
        logout(request._request)
        return Response({"deleted": True})
