"""API-key requests for async views are served straight from ASGI (chukchat/api_direct.py):
what the API middlewares did on Django's handler still happens, and a client that leaves still
stops the provider and pays for what was generated."""

import time
from decimal import Decimal

import httpx
import pytest

from billing.entitlements import entitlements_changed
from billing.models import Plan, UsageRecord
from billing.money import format_usd
from billing.selectors import balance_of, ledger_sum
from tests.aiapi.test_openai_sdk import wait_for_record

HELLO = {"model": "fast", "messages": [{"role": "user", "content": "hello"}]}


def post(gateway_url, key, body, **kwargs):
    return httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})},
        timeout=kwargs.pop("timeout", 30),
        **kwargs,
    )


def test_an_answer_carries_its_length_request_id_limits_and_cost(
    gateway_url, carol, carol_key, settings
):
    settings.RATE_LIMITS_ENABLED = True
    # Set here: an earlier test's flush may have taken the migrated Free plan with it.
    Plan.objects.update_or_create(
        slug="free", defaults={"name": "Free", "chat_requests_per_minute": 20}
    )
    entitlements_changed()
    answer = post(gateway_url, carol_key, HELLO, headers={"X-Request-Id": "client-req-0001"})

    assert answer.status_code == 200
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert "transfer-encoding" not in answer.headers
    assert answer.headers["x-request-id"] == "client-req-0001"  # the client's id, echoed
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-ratelimit-limit-requests"] == "20"
    assert answer.headers["x-ratelimit-remaining-requests"] == "19"
    record = wait_for_record(answer.headers["x-chuk-usage-id"])
    assert answer.headers["x-chuk-cost"] == format_usd(record.cost)
    assert balance_of(user=carol) == Decimal(10) - record.cost == ledger_sum(user=carol)


def test_a_refusal_is_the_api_error_format_with_the_same_headers(gateway_url, carol, carol_key):
    answer = post(gateway_url, carol_key, {**HELLO, "model": "no-such-model"})

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "model_not_found"
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert len(answer.headers["x-request-id"]) == 32
    assert not UsageRecord.objects.exists()
    assert balance_of(user=carol) == 10


def test_a_wrong_method_is_a_json_405_naming_the_allowed_one(gateway_url, carol_key):
    answer = httpx.get(
        f"{gateway_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {carol_key}"},
        timeout=30,
    )

    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"
    assert answer.headers["allow"] == "POST"


def test_a_sync_view_with_an_api_key_still_answers(gateway_url, carol, carol_key):
    answer = httpx.get(
        f"{gateway_url}/v1/user/status",
        headers={"Authorization": f"Bearer {carol_key}"},
        timeout=30,
    )

    assert answer.status_code == 200
    assert answer.json()["email"] == carol.email


def test_a_client_that_leaves_before_the_answer_pays_nothing_and_holds_nothing(
    gateway_url, carol, carol_key, upstream
):
    sleepy = {**HELLO, "model": "sleepy"}  # the upstream answers after 0.7 s
    with pytest.raises(httpx.ReadTimeout):
        post(gateway_url, carol_key, sleepy, timeout=httpx.Timeout(30, read=0.2))
    time.sleep(1.0)  # past the upstream's answer, had anyone waited for it

    assert not UsageRecord.objects.filter(user=carol, status="ok").exists()
    assert balance_of(user=carol) == 10 == ledger_sum(user=carol)
    # Nothing is left held: the whole balance pays for the next answer.
    assert post(gateway_url, carol_key, HELLO).status_code == 200
