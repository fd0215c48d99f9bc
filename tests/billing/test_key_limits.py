"""Per-key monthly spending caps: month-to-date spend plus the key's open holds plus this
request's worst case must fit, checked in the statement that places the hold."""

from datetime import timedelta
from decimal import Decimal

import openai
import pytest

from accounts.api_keys import api_key_create
from accounts.authentication import clear_key_cache
from accounts.models import ApiKey
from billing.ledger import credit_grant
from billing.metering import release_stale_reservations, reserve
from billing.models import KeySpend, LedgerEntry, Reservation
from billing.selectors import balance_of
from chukchat.errors import ApiError
from tests.billing.test_metering import (
    MESSAGES,
    ask_steady,
    run_concurrently,
    steady_worst_case,
    wait_for_records,
)

pytestmark = pytest.mark.usefixtures("billing_catalogue")


def cap(key_plaintext_or_id, limit: Decimal | None) -> None:
    ApiKey.objects.filter(pk=key_plaintext_or_id).update(monthly_spend_limit=limit)
    clear_key_cache()  # as after CHUK_API_KEY_CACHE_SECONDS


@pytest.fixture
def erin(transactional_db):
    """Erin has plenty of credit: here only her keys' caps can say no."""
    from tests.factories import UserFactory

    user = UserFactory(email="erin@example.com")
    credit_grant(user=user, amount=Decimal(100), description="plenty")
    return user


@pytest.fixture
def erin_key(erin, gateway_url):
    api_key, plaintext = api_key_create(user=erin, name="capped script")
    client = openai.OpenAI(
        base_url=f"{gateway_url}/v1", api_key=plaintext, max_retries=0, timeout=60
    )
    return api_key, client


def test_a_request_past_the_keys_cap_gets_402_key_limit_exceeded(erin, erin_key, upstream):
    api_key, sdk = erin_key
    cap(api_key.pk, steady_worst_case())  # exactly one worst case
    upstream.clear()

    first = ask_steady(sdk)
    second = ask_steady(sdk)

    assert first[0] == 200
    assert second[:2] == (402, "key_limit_exceeded")
    wait_for_records(1)
    assert len([r for r in upstream.requests() if r["model"].startswith("fake:tokens=20")]) == 1
    assert balance_of(user=erin) == Decimal(100) - first[2]
    row = KeySpend.objects.get(api_key=api_key)
    assert row.spent == first[2] and row.reserved == 0


def test_the_cap_message_names_the_limit(erin, erin_key):
    api_key, sdk = erin_key
    cap(api_key.pk, Decimal("0.0001"))

    with pytest.raises(openai.APIStatusError) as excinfo:
        sdk.chat.completions.create(model="steady", messages=MESSAGES)

    assert excinfo.value.status_code == 402
    assert excinfo.value.body["code"] == "key_limit_exceeded"
    assert "0.0001 USD" in excinfo.value.body["message"]
    assert not Reservation.objects.exists() and not LedgerEntry.objects.filter(kind="usage")


def test_concurrent_requests_on_a_capped_key_never_pass_the_cap(erin, erin_key):
    api_key, sdk = erin_key
    limit = 3 * steady_worst_case()
    cap(api_key.pk, limit)

    results = run_concurrently(20, lambda: ask_steady(sdk))

    served = [cost for status, _, cost in results if status == 200]
    assert {code for status, code, _ in results if status != 200} == {"key_limit_exceeded"}
    records = wait_for_records(len(served))
    spent = sum((r.cost for r in records), Decimal(0))
    assert len(served) >= 3 and spent <= limit
    row = KeySpend.objects.get(api_key=api_key)
    assert row.spent == spent and row.reserved == 0
    assert balance_of(user=erin) == Decimal(100) - spent


def test_spend_before_the_cap_was_set_counts_toward_it(erin, erin_key):
    api_key, sdk = erin_key
    _, _, cost = ask_steady(sdk)  # no cap yet, still counted
    wait_for_records(1)  # settled once the answer was sent
    cap(api_key.pk, cost + steady_worst_case() - Decimal("0.0001"))  # limits have 4 places

    assert ask_steady(sdk)[:2] == (402, "key_limit_exceeded")
    assert KeySpend.objects.get(api_key=api_key).spent == cost


def test_another_key_of_the_same_user_is_not_held_back(erin, erin_key, gateway_url):
    api_key, sdk = erin_key
    cap(api_key.pk, Decimal(0))
    _, other = api_key_create(user=erin, name="uncapped")
    other_sdk = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=other, max_retries=0)

    assert ask_steady(sdk)[:2] == (402, "key_limit_exceeded")
    assert ask_steady(other_sdk)[0] == 200


def test_removing_the_cap_lets_the_key_spend_again(erin, erin_key):
    api_key, sdk = erin_key
    cap(api_key.pk, Decimal(0))
    assert ask_steady(sdk)[0] == 402

    cap(api_key.pk, None)

    assert ask_steady(sdk)[0] == 200


def test_a_stale_hold_is_released_from_the_key_too(erin, erin_key):
    api_key, _ = erin_key
    reserve(
        user_id=erin.pk,
        api_key_id=api_key.pk,
        request_id="died-mid-request",
        amount=Decimal("0.5"),
        api_key_limit=Decimal(1),
    )
    assert KeySpend.objects.get(api_key=api_key).reserved == Decimal("0.5")

    assert release_stale_reservations(older_than=timedelta(0)) == 1

    row = KeySpend.objects.get(api_key=api_key)
    assert row.reserved == 0 and row.spent == 0
    assert balance_of(user=erin) == Decimal(100)


def test_holds_on_a_capped_key_add_up_until_the_cap(erin, erin_key):
    api_key, _ = erin_key
    hold = {"user_id": erin.pk, "api_key_id": api_key.pk, "api_key_limit": Decimal(1)}
    reserve(request_id="a", amount=Decimal("0.6"), **hold)

    with pytest.raises(ApiError) as excinfo:
        reserve(request_id="b", amount=Decimal("0.5"), **hold)

    assert excinfo.value.code == "key_limit_exceeded"
    assert reserve(request_id="c", amount=Decimal("0.4"), **hold)
    assert KeySpend.objects.get(api_key=api_key).reserved == Decimal(1)
    release_stale_reservations(older_than=timedelta(0))


def test_insufficient_credit_on_a_capped_key_is_still_insufficient_credits(erin, erin_key):
    api_key, _ = erin_key

    with pytest.raises(ApiError) as excinfo:
        reserve(
            user_id=erin.pk,
            api_key_id=api_key.pk,
            request_id="too-big",
            amount=Decimal(101),
            api_key_limit=Decimal(1000),
        )

    assert excinfo.value.code == "insufficient_credits"
    assert not KeySpend.objects.filter(api_key=api_key, reserved__gt=0).exists()
