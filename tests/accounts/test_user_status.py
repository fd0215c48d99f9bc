"""`GET /v1/user/status`: what a developer's script (or the web app) learns about the account:
plan, credit, this month's usage and spend, and what is left of each rate limit, in figures
that agree with the ledger and the usage records."""

from decimal import Decimal

from django.db.models import Sum

from accounts.models import ApiKey
from billing.entitlements import entitlements_changed
from billing.models import LedgerEntry, Plan, UsageRecord
from billing.selectors import ledger_sum
from tests.aiapi.test_openai_sdk import wait_for_record

HELLO = [{"role": "user", "content": "hello"}]


def test_status_agrees_with_the_ledger_and_the_usage_records(http, carol, settings):
    settings.RATE_LIMITS_ENABLED = True
    Plan.objects.update_or_create(
        slug="free",
        defaults={"name": "Free", "chat_requests_per_minute": 10, "api_requests_per_minute": 50},
    )
    entitlements_changed()
    ApiKey.objects.filter(user=carol).update(monthly_spend_limit=Decimal("5"))
    for model in ("fast", "plain", "fast"):
        reply = http.post("/v1/chat/completions", json={"model": model, "messages": HELLO})
        wait_for_record(reply.headers["x-request-id"])

    status = http.get("/v1/user/status").json()

    records = UsageRecord.objects.filter(user=carol)
    spend = records.aggregate(total=Sum("cost"))["total"]
    charged = -LedgerEntry.objects.filter(account__user=carol, kind="usage").aggregate(
        total=Sum("amount")
    )["total"]
    assert status["email"] == "carol@example.com"
    assert status["plan"] == {"slug": "free", "premiumModels": False}
    assert Decimal(status["credits"]["balance"]) == ledger_sum(user=carol) == Decimal(10) - spend
    assert status["credits"]["held"] == "0"
    month = status["thisMonth"]
    assert month["requests"] == 3
    assert Decimal(month["spend"]) == spend == charged
    assert month["outputTokens"] == records.aggregate(total=Sum("completion_tokens"))["total"]
    assert status["rateLimits"]["chat"]["requestsPerMinute"] == 10
    assert status["rateLimits"]["chat"]["remainingRequests"] == 7
    assert status["rateLimits"]["api"]["remainingRequests"] == 49  # this very request
    assert status["key"]["name"] == "carol's script"
    assert status["key"]["monthlySpendLimit"] == "5"
    assert Decimal(status["key"]["spentThisMonth"]) == spend


def test_status_in_the_web_app_has_no_key(client, alice):
    client.force_login(alice)
    status = client.get("/v1/user/status").json()
    assert status["key"] is None and status["thisMonth"]["requests"] == 0
    assert status["credits"]["balance"] == "0"
