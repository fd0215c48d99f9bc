"""Operators see usage and spend across users in admin: the usage records (read-only, filtered
by user, key, model, provider, status and date), spend by model and by provider per day, each
provider's error rate and latency over the last hour, and one "Accounts" section."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.api_keys import api_key_create
from billing.models import UsageRecord
from tests.factories import UserFactory


@pytest.fixture
def operator(client, db):
    admin = UserFactory(email="ops@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return admin


def used(user, *, model, provider, cost, latency_ms=100, status="ok", ago=timedelta(0), key=None):
    return UsageRecord.objects.create(
        request_id=f"req-{UsageRecord.objects.count()}",
        user=user,
        api_key=key,
        endpoint="chat.completions",
        model=model,
        provider=provider,
        prompt_tokens=10,
        completion_tokens=20,
        total_tokens=30,
        cost=Decimal(cost),
        latency_ms=latency_ms,
        status=status,
        created_at=timezone.now() - ago,
    )


def cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    return [re.findall(r"<td>(.*?)</td>", row, flags=re.S) for row in rows if "<td>" in row]


def results(html: str) -> str:
    return re.search(r'<table id="result_list">(.*?)</table>', html, flags=re.S).group(1)


def test_spend_by_day_sums_each_model_and_each_provider(client, operator, alice, bob):
    used(alice, model="haiku", provider="anthropic", cost="0.00000014")
    used(bob, model="haiku", provider="anthropic", cost="0.5")
    used(alice, model="gpt", provider="openai", cost="1.25")
    used(alice, model="gpt", provider="openai", cost="2", ago=timedelta(days=1))

    html = client.get("/admin/billing/usagerecord/spend/").content.decode()

    today = timezone.now().date().isoformat()
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert [today, "gpt", "1", "10", "20", "$1.25"] in cells(html)
    assert [today, "haiku", "2", "20", "40", "$0.50000014"] in cells(html)
    assert [yesterday, "gpt", "1", "10", "20", "$2"] in cells(html)
    assert [today, "anthropic", "2", "20", "40", "$0.50000014"] in cells(html)
    assert not any("e-" in cell.lower() for row in cells(html) for cell in row)


def test_provider_health_shows_error_rate_and_latency_of_the_last_hour(client, operator, alice):
    for ms in range(100, 1100, 10):  # 100 answered calls: 100 ms ... 1090 ms
        used(alice, model="gpt", provider="openai", cost="0", latency_ms=ms)
    for _ in range(25):
        used(alice, model="gpt", provider="openai", cost="0", latency_ms=1, status="error")
    used(alice, model="gpt", provider="openai", cost="0", latency_ms=9999, ago=timedelta(hours=2))

    html = client.get("/admin/billing/usagerecord/providers/").content.decode()

    assert ["openai", "125", "25", "20 %", "590 ms", "1080 ms"] in cells(html)


def test_usage_records_filter_by_user_and_key_and_cannot_be_edited(client, operator, alice, bob):
    key, _ = api_key_create(user=alice, name="script")
    used(alice, model="gpt", provider="openai", cost="1", key=key)
    used(bob, model="gpt", provider="openai", cost="1")

    by_user = client.get(f"/admin/billing/usagerecord/?user={alice.pk}").content.decode()
    by_key = client.get(f"/admin/billing/usagerecord/?key={key.pk}").content.decode()

    for page in (by_user, by_key):
        shown = results(page)
        assert "alice@example.com" in shown and "bob@example.com" not in shown
    record = UsageRecord.objects.first()
    assert client.get(f"/admin/billing/usagerecord/{record.pk}/change/").status_code == 200
    assert client.post(f"/admin/billing/usagerecord/{record.pk}/delete/").status_code == 403


def test_the_reports_are_for_staff_only(client, alice):
    client.force_login(alice)
    assert client.get("/admin/billing/usagerecord/spend/").status_code == 302  # to the login


def test_the_admin_has_one_accounts_section(client, operator):
    html = client.get("/admin/").content.decode()
    sections = re.findall(r"<caption>\s*<a[^>]*>(.*?)</a>", html)
    assert sections.count("Accounts") == 1
    assert "/admin/accounts/accountemailaddress/" in html
