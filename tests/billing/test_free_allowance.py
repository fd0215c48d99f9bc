"""The Free plan's monthly allowance: a new account can chat at once, on credit granted through
the ledger once per calendar month, which the database itself refuses to grant twice."""

from datetime import UTC, datetime
from decimal import Decimal

import openai
import pytest
from django.db import IntegrityError, transaction

from accounts.api_keys import api_key_create
from accounts.models import User
from billing.allowances import (
    free_allowance_forget,
    free_allowance_grant,
    free_allowance_reference,
)
from billing.ledger import account_for
from billing.models import LedgerEntry, Plan, Subscription, UsageRecord
from billing.selectors import balance_of
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"
DECEMBER = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
LATE_DECEMBER = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
JANUARY = datetime(2027, 1, 1, 0, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_process_memory():
    free_allowance_forget()
    yield
    free_allowance_forget()


@pytest.fixture
def free_plan(db):
    """Free as a deployment starts with it (the data migrations seed it; flushed tables need
    it made again)."""
    plan, _ = Plan.objects.update_or_create(
        slug="free", defaults={"name": "Free", "monthly_allowance": Decimal("0.50")}
    )
    return plan


def allowances(user) -> list[LedgerEntry]:
    return list(
        LedgerEntry.objects.filter(account__user=user, kind=LedgerEntry.Kind.ALLOWANCE).order_by(
            "id"
        )
    )


def test_the_free_plan_starts_with_a_small_monthly_allowance(db):
    assert Plan.objects.get(slug="free").monthly_allowance == Decimal("0.50")


def test_a_new_account_has_its_first_months_allowance_from_sign_up(client, db):
    client.post(
        "/accounts/signup/",
        {"email": "erin@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    erin = User.objects.get(email="erin@example.com")
    assert balance_of(user=erin) == Decimal("0.50")
    [entry] = allowances(erin)
    assert entry.amount == Decimal("0.50")
    assert entry.description.startswith("Free plan allowance for ")


def test_the_allowance_is_granted_once_per_month(free_plan, alice):
    first = free_allowance_grant(user_id=alice.pk, now=DECEMBER)
    free_allowance_forget()  # as another process would ask
    again = free_allowance_grant(user_id=alice.pk, now=LATE_DECEMBER)

    assert again == first
    assert len(allowances(alice)) == 1
    assert balance_of(user=alice) == Decimal("0.50")

    free_allowance_grant(user_id=alice.pk, now=JANUARY)
    assert [e.reference for e in allowances(alice)] == [
        f"free_allowance:{alice.pk}:2026-12",
        f"free_allowance:{alice.pk}:2027-01",
    ]
    assert balance_of(user=alice) == Decimal("1.00")


def test_the_database_refuses_a_second_allowance_for_the_same_month(free_plan, alice):
    free_allowance_grant(user_id=alice.pk, now=DECEMBER)
    account = account_for(user=alice)

    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            account=account,
            kind=LedgerEntry.Kind.ALLOWANCE,
            amount=Decimal("0.50"),
            balance_after=Decimal("1.00"),
            reference=free_allowance_reference(
                user_id=alice.pk, month=DECEMBER.date().replace(day=1)
            ),
        )


def test_the_amount_is_the_one_set_in_admin(free_plan, alice):
    free_plan.monthly_allowance = Decimal("2.25")
    free_plan.save()

    free_allowance_grant(user_id=alice.pk, now=DECEMBER)

    assert balance_of(user=alice) == Decimal("2.25")


def test_an_allowance_of_zero_grants_nothing(free_plan, alice):
    free_plan.monthly_allowance = 0
    free_plan.save()

    assert free_allowance_grant(user_id=alice.pk, now=DECEMBER) is None
    assert allowances(alice) == []


def test_a_paid_subscriber_gets_their_plans_allowance_not_frees(free_plan, alice):
    pro, _ = Plan.objects.update_or_create(
        slug="pro", defaults={"name": "Pro", "monthly_allowance": Decimal(20)}
    )
    Subscription.objects.create(user=alice, stripe_id="sub_alice", plan=pro, status="active")

    assert free_allowance_grant(user_id=alice.pk, now=DECEMBER) is None
    assert allowances(alice) == []


def test_a_key_holder_with_no_credit_is_answered_on_this_months_allowance(
    gateway_url, gateway_server, catalogue, transactional_db
):
    Plan.objects.update_or_create(
        slug="free", defaults={"name": "Free", "monthly_allowance": Decimal("0.50")}
    )
    dave = UserFactory(email="dave@example.com")  # made outside sign-up: nothing granted yet
    _, key = api_key_create(user=dave, name="dave's script")
    sdk = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)

    reply = sdk.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "hello"}]
    )

    assert reply.choices[0].message.content
    [entry] = allowances(dave)
    assert entry.amount == Decimal("0.50")
    gateway_server.wait_idle()  # settled once the answer is out
    record = UsageRecord.objects.get(user=dave)
    assert balance_of(user=dave) == Decimal("0.50") - record.cost
