"""Exact metering through the real gateway over HTTP with the official SDK: concurrent requests
never overspend, a failed provider call costs nothing, a stream the client abandoned is charged
once for what was generated."""

import threading
import time
from decimal import ROUND_FLOOR, Decimal

import httpx
import openai
import pytest

from aiapi.token_count import cautious_prompt_tokens
from billing.ledger import credit_grant
from billing.models import LedgerEntry, Plan, UsageRecord
from billing.prices import Prices
from billing.selectors import balance_of
from billing.settlement import settle_sync
from tests.aiapi.test_openai_sdk import wait_for_record
from tests.factories import UserFactory

MILLION = Decimal(1_000_000)
MESSAGES = [{"role": "user", "content": "Count to twenty, slowly."}]
# The "steady" model: 20 tokens at most, streamed over ~0.2 s, $100/$200 per million tokens.
STEADY_INPUT, STEADY_OUTPUT, STEADY_MAX = Decimal(100), Decimal(200), 20


def steady_worst_case() -> Decimal:
    """What the gateway holds for one "steady" request: the cautious prompt estimate plus the
    model's whole output limit."""
    return (cautious_prompt_tokens(MESSAGES) * STEADY_INPUT + STEADY_MAX * STEADY_OUTPUT) / MILLION


def wait_for_records(count: int, timeout: float = 15.0) -> list[UsageRecord]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = list(UsageRecord.objects.all())
        if len(records) >= count:
            return records
        time.sleep(0.05)
    raise AssertionError(f"expected {count} usage records, found {UsageRecord.objects.count()}")


def run_concurrently(count: int, call) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.fixture
def dave(transactional_db, billing_catalogue):
    """Dave has credit for exactly ten "steady" requests at their worst case (and no Free
    allowance to fall back on: it would be granted when his credit runs out)."""
    Plan.objects.filter(slug="free").update(monthly_allowance=0)
    user = UserFactory(email="dave@example.com")
    credit_grant(user=user, amount=10 * steady_worst_case(), description="ten requests' worth")
    return user


@pytest.fixture
def dave_sdk(dave, gateway_url) -> openai.OpenAI:
    from accounts.api_keys import api_key_create

    _, key = api_key_create(user=dave, name="dave's load test")
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0, timeout=60)


def ask_steady(sdk: openai.OpenAI):
    try:
        reply = sdk.chat.completions.with_raw_response.create(model="steady", messages=MESSAGES)
    except openai.APIStatusError as error:
        return error.status_code, error.body["code"], None
    return reply.status_code, None, Decimal(reply.headers["x-chuk-cost"])


def test_fifty_concurrent_requests_never_overspend_and_pay_exactly_what_they_used(
    dave, dave_sdk, upstream, no_holds_left
):
    worst = steady_worst_case()
    upstream.clear()

    results = run_concurrently(50, lambda: ask_steady(dave_sdk))

    served = [cost for status, _, cost in results if status == 200]
    refused = [code for status, code, _ in results if status != 200]
    assert refused == ["insufficient_credits"] * len(refused)
    records = wait_for_records(len(served))
    charged = sum((r.cost for r in records), Decimal(0))
    # The balance covers ten worst cases; a request that finished early freed its unused hold,
    # so a few more may fit, never more than the balance pays for at the real cost.
    most = (10 * worst / min(r.cost for r in records)).to_integral_value(ROUND_FLOOR)
    assert 10 <= len(served) <= most
    assert sorted(served) == sorted(r.cost for r in records)
    assert all(r.status == "ok" and r.completion_tokens == STEADY_MAX for r in records)
    assert balance_of(user=dave) == 10 * worst - charged >= 0
    assert LedgerEntry.objects.filter(kind="usage").count() == len(served)
    assert no_holds_left()
    # Refused requests never reached the provider.
    assert sum(1 for r in upstream.requests() if r["model"] == "fake:tokens=20,tps=100") == len(
        served
    )
    print(
        f"\n50 concurrent: {len(served)} served, {len(refused)} refused (402); "
        f"worst case {worst} USD each, charged {charged} USD of {10 * worst}"
    )


def test_a_provider_failure_charges_nothing(sdk, carol, no_holds_left):
    with pytest.raises(openai.APIStatusError) as excinfo:
        sdk.chat.completions.create(model="all-down", messages=MESSAGES)

    assert excinfo.value.status_code == 502
    record = wait_for_record(excinfo.value.response.headers["x-request-id"])
    assert record.status == "error" and record.cost == 0
    assert balance_of(user=carol) == Decimal(10)
    assert not LedgerEntry.objects.filter(kind="usage").exists()
    assert no_holds_left()


def test_a_disconnect_mid_stream_charges_the_generated_tokens_once(
    gateway_url, carol_key, carol, no_holds_left
):
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            f"{gateway_url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {carol_key}"},
            json={"model": "slow-stream", "messages": MESSAGES, "stream": True},
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        chunks = 0
        for line in response.iter_lines():
            chunks += line.startswith("data: ")
            if chunks == 5:
                break  # the client hangs up

    record = wait_for_record(request_id)
    assert record.status == "cancelled" and 5 <= record.completion_tokens < 400
    expected = (record.prompt_tokens * 1 + record.completion_tokens * 2) / MILLION
    assert record.cost == expected > 0
    # Settling the same request again (a retry, a late duplicate) charges nothing more.
    again = settle_sync(
        record=UsageRecord(
            request_id=request_id,
            user=carol,
            completion_tokens=record.completion_tokens,
            prompt_tokens=record.prompt_tokens,
        ),
        prices=Prices(input=Decimal(1), output=Decimal(2)),
    )
    assert again.pk == record.pk
    [charge] = LedgerEntry.objects.filter(kind="usage")
    assert charge.reference == f"usage:{request_id}" and charge.amount == -expected
    assert balance_of(user=carol) == Decimal(10) - expected
    assert no_holds_left()
