"""Models marked pro_only answer 403 model_requires_upgrade to anyone whose plan lacks premium
models, before any provider is asked; a plan change made here takes effect at once."""

from decimal import Decimal

import openai
import pytest
from asgiref.sync import async_to_sync

from aiapi.models import AiModel
from billing.entitlements import aentitlements_for, require_model_access
from billing.models import Plan, Subscription
from billing.selectors import balance_of
from tests.billing.conftest import complete_checkout, stripe_event

pytestmark = pytest.mark.usefixtures("billing_catalogue", "plans")

MESSAGES = [{"role": "user", "content": "hello"}]


def premium_calls(upstream) -> int:
    return sum(1 for r in upstream.requests() if r["body"].get("model") == "fake:tokens=8")


def test_a_free_user_asking_for_a_premium_model_gets_403_and_no_provider_call(sdk, carol, upstream):
    upstream.clear()

    with pytest.raises(openai.PermissionDeniedError) as excinfo:
        sdk.chat.completions.create(model="premium", messages=MESSAGES)

    assert excinfo.value.status_code == 403
    assert excinfo.value.body["code"] == "model_requires_upgrade"
    assert excinfo.value.body["param"] == "model"
    assert "Upgrade" in excinfo.value.body["message"]
    assert premium_calls(upstream) == 0
    assert balance_of(user=carol) == Decimal(10)


def test_premium_embeddings_are_gated_too(sdk, upstream):
    upstream.clear()

    with pytest.raises(openai.PermissionDeniedError) as excinfo:
        sdk.embeddings.create(model="premium-emb", input="hello")

    assert excinfo.value.body["code"] == "model_requires_upgrade"
    assert not [r for r in upstream.requests() if "embeddings" in r["path"]]


def test_a_streaming_request_is_refused_before_the_stream_starts(sdk):
    with pytest.raises(openai.PermissionDeniedError):
        sdk.chat.completions.create(model="premium", messages=MESSAGES, stream=True)


def test_a_pro_subscriber_uses_premium_models(sdk, carol, plans):
    Subscription.objects.create(
        user=carol, stripe_id="sub_carol", plan=plans["pro"], status="active"
    )

    reply = sdk.chat.completions.create(model="premium", messages=MESSAGES)

    assert reply.choices[0].message.content


def test_a_past_due_subscription_does_not_open_premium_models(sdk, carol, plans):
    Subscription.objects.create(
        user=carol, stripe_id="sub_carol", plan=plans["pro"], status="past_due"
    )

    with pytest.raises(openai.PermissionDeniedError):
        sdk.chat.completions.create(model="premium", messages=MESSAGES)


def test_subscribing_opens_premium_models_at_once_in_this_process(
    sdk, carol, client, stripe_settings, stripe_standin, deliver
):
    with pytest.raises(openai.PermissionDeniedError):  # and "free" is now cached
        sdk.chat.completions.create(model="premium", messages=MESSAGES)
    client.force_login(carol)
    url = client.post(
        "/v1/billing/checkout", data={"plan": "pro"}, content_type="application/json"
    ).json()["url"]
    session = complete_checkout(stripe_standin.url, url.rsplit("/", 1)[1])

    deliver(stripe_event("checkout.session.completed", session))

    assert sdk.chat.completions.create(model="premium", messages=MESSAGES).choices


def test_a_free_plan_that_includes_premium_models_lets_everyone_in(sdk, plans):
    Plan.objects.filter(slug="free").update(includes_premium_models=True)

    assert sdk.chat.completions.create(model="premium", messages=MESSAGES).choices


def test_open_models_cost_no_entitlement_lookup(carol, django_assert_num_queries):
    model = AiModel.objects.get(public_id="fast")

    with django_assert_num_queries(0):
        async_to_sync(require_model_access)(user_id=carol.pk, model=model)


def test_entitlements_are_read_once_then_served_from_the_process_cache(
    carol, django_assert_num_queries
):
    premium = AiModel.objects.get(public_id="premium")
    async_to_sync(aentitlements_for)(user_id=carol.pk)

    with django_assert_num_queries(0):
        for _ in range(3):
            with pytest.raises(Exception, match="premium models"):
                async_to_sync(require_model_access)(user_id=carol.pk, model=premium)


def test_a_premium_fallback_never_answers_a_free_user(sdk, carol, upstream):
    upstream.clear()
    with pytest.raises(openai.APIStatusError) as excinfo:
        sdk.chat.completions.create(model="free-with-premium-fallback", messages=MESSAGES)

    assert excinfo.value.status_code == 502  # the model failed; its premium fallback was not tried
    assert premium_calls(upstream) == 0
    assert balance_of(user=carol) == Decimal(10)


def test_a_premium_fallback_answers_a_pro_user(sdk, carol, plans, upstream):
    Subscription.objects.create(
        user=carol, stripe_id="sub_carol", plan=plans["pro"], status="active"
    )
    reply = sdk.chat.completions.create(model="free-with-premium-fallback", messages=MESSAGES)
    assert len(reply.choices[0].message.content.split()) == 8
    assert premium_calls(upstream) == 1
