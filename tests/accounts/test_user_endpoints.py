"""The user endpoints a signed-in person (or their script) uses: their keys, their usage, and
account actions; bad input gets its clear error and changes nothing."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlparse

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.api_keys import api_key_create
from accounts.models import ApiKey
from billing.models import UsageRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def post(client, path, body, **extra):
    return client.post(path, body, content_type="application/json", **extra)


# --- API keys -----------------------------------------------------------------------------


def test_a_new_key_is_shown_once_and_then_only_by_its_prefix(browser, alice):
    created = post(browser, "/v1/user/keys", {"name": "deploy bot", "monthly_spend_limit": "25"})

    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith("sk-chuk-") and body["key"].startswith(body["prefix"])
    assert body["name"] == "deploy bot" and body["monthlySpendLimit"] == "25"
    listed = browser.get("/v1/user/keys").json()["data"]
    assert [k["name"] for k in listed] == ["deploy bot"]
    assert "key" not in listed[0]
    assert (
        Client().get("/v1/user/status", HTTP_AUTHORIZATION=f"Bearer {body['key']}").status_code
        == 200
    )


def test_a_key_can_be_renamed_and_revoked(browser, alice):
    api_key, plaintext = api_key_create(user=alice, name="old")
    renamed = browser.patch(
        f"/v1/user/keys/{api_key.pk}", {"name": "new"}, content_type="application/json"
    )
    assert renamed.json()["name"] == "new"

    revoked = browser.delete(f"/v1/user/keys/{api_key.pk}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert (
        Client().get("/v1/user/status", HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 401
    )


def test_someone_elses_key_is_a_404(browser, bob):
    bobs_key, _ = api_key_create(user=bob, name="bob's")
    assert browser.delete(f"/v1/user/keys/{bobs_key.pk}").status_code == 404
    assert not ApiKey.objects.get(pk=bobs_key.pk).revoked


def test_an_api_key_cannot_manage_keys_or_the_account(client, alice_key):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {alice_key}"}
    for path, body in [
        ("/v1/user/keys", {"name": "escalation"}),
        ("/v1/user/password", {"current_password": "x", "new_password": "y"}),
        ("/v1/user/email", {"email": "x@example.com"}),
    ]:
        response = post(client, path, body, **auth)
        assert (
            response.status_code == 403 and response.json()["error"]["code"] == "session_required"
        )
    assert ApiKey.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "ok", "monthly_spend_limit": "-1"}, "monthly_spend_limit"),
        ({"name": "ok", "monthly_spend_limit": "lots"}, "monthly_spend_limit"),
    ],
)
def test_a_bad_key_request_is_refused_and_creates_nothing(browser, body, param):
    response = post(browser, "/v1/user/keys", body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert not ApiKey.objects.exists()


def test_signed_out_visitors_get_401(client):
    assert client.get("/v1/user/keys").status_code == 401
    assert client.get("/v1/user/usage").status_code == 401


# --- Usage --------------------------------------------------------------------------------


def record(user, *, model="fast", key=None, days_ago=0, tokens=(10, 20), cost="0.001", n=[0]):
    n[0] += 1
    return UsageRecord.objects.create(
        request_id=f"r{n[0]}-{user.pk}",
        user=user,
        api_key=key,
        endpoint="chat.completions",
        model=model,
        provider="fake",
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        total_tokens=sum(tokens),
        cost=Decimal(cost),
        created_at=timezone.now() - timedelta(days=days_ago),
    )


def test_usage_lists_records_with_totals_and_daily_figures(browser, alice, bob):
    key, _ = api_key_create(user=alice, name="ci")
    record(alice, model="fast", days_ago=2)
    record(alice, model="fast", days_ago=2, key=key)
    record(alice, model="claude", days_ago=0, cost="0.5")
    record(bob, model="fast")  # not alice's

    body = browser.get("/v1/user/usage").json()
    assert len(body["data"]) == 3
    assert body["data"][0]["model"] == "claude"  # newest first
    assert body["totals"] == {
        "requests": 3,
        "inputTokens": 30,
        "outputTokens": 60,
        "totalTokens": 90,
        "cost": "0.502",
    }
    two_days_ago = (timezone.now() - timedelta(days=2)).date().isoformat()
    assert body["daily"][0] == {
        "date": two_days_ago,
        "model": "fast",
        "requests": 2,
        "inputTokens": 20,
        "outputTokens": 40,
        "cost": "0.002",
    }


def test_usage_filters_by_dates_model_and_key(browser, alice):
    key, _ = api_key_create(user=alice, name="ci")
    record(alice, model="fast", days_ago=10)
    record(alice, model="fast", days_ago=1, key=key)
    record(alice, model="claude", days_ago=1)

    def count(query):
        return len(browser.get(f"/v1/user/usage?{query}").json()["data"])

    since = (timezone.now() - timedelta(days=3)).date().isoformat()
    assert count(f"start={since}") == 2
    assert count(f"end={since}") == 1
    assert count("model=claude") == 1
    assert count(f"key={key.pk}") == 1
    page = browser.get("/v1/user/usage?limit=2").json()
    assert len(page["data"]) == 2 and page["hasMore"] is True


@pytest.mark.parametrize(
    "query", ["start=yesterday", "start=2026-02-10&end=2026-01-01", "limit=0", "key=abc"]
)
def test_bad_usage_filters_are_a_400(browser, query):
    response = browser.get(f"/v1/user/usage?{query}")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_usage_downloads_as_csv(browser, alice):
    record(alice, model="fast", cost="0.25")
    response = browser.get("/v1/user/usage.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1 and rows[0]["model"] == "fast" and rows[0]["cost"] == "0.25"


# --- Account actions ----------------------------------------------------------------------


def test_changing_the_password(browser, alice):
    refused = post(
        browser,
        "/v1/user/password",
        {"current_password": "wrong", "new_password": "n3w-Passphrase!"},
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "wrong_password"
    weak = post(
        browser,
        "/v1/user/password",
        {"current_password": "correct horse battery staple", "new_password": "123"},
    )
    assert weak.status_code == 400 and weak.json()["error"]["code"] == "weak_password"
    alice.refresh_from_db()
    assert alice.check_password("correct horse battery staple")

    changed = post(
        browser,
        "/v1/user/password",
        {"current_password": "correct horse battery staple", "new_password": "n3w-Passphrase!"},
    )
    assert changed.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password("n3w-Passphrase!")
    assert browser.get("/v1/user/usage").status_code == 200  # still signed in here


def test_changing_the_email_takes_effect_once_the_new_address_is_verified(browser, alice):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    response = post(browser, "/v1/user/email", {"email": "Alice.New@Example.com"})

    assert response.status_code == 202
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"  # not yet
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    assert mail.outbox[-1].to == ["alice.new@example.com"]
    browser.post(urlparse(link).path)
    alice.refresh_from_db()
    assert alice.email == "alice.new@example.com"


def test_an_unverified_user_changing_their_email_keeps_their_login(browser, alice, bob):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=False, primary=True)
    EmailAddress.objects.create(user=bob, email=bob.email, verified=False, primary=True)

    for person in (alice, bob):  # the second used to hit the unique constraint: a 500
        browser.force_login(person)
        response = post(browser, "/v1/user/email", {"email": f"new-{person.email}"})
        assert response.status_code == 202

    alice.refresh_from_db()
    assert alice.email == "alice@example.com"
    browser.logout()
    signed_in = browser.post(
        "/accounts/login/",
        {"login": "alice@example.com", "password": "correct horse battery staple"},
    )
    assert signed_in.status_code == 302
    assert browser.get("/v1/user/status").status_code == 200


def test_a_second_change_replaces_the_first_pending_one(browser, alice):
    post(browser, "/v1/user/email", {"email": "first@example.com"})
    post(browser, "/v1/user/email", {"email": "second@example.com"})

    pending = EmailAddress.objects.filter(user=alice, verified=False)
    assert sorted(pending.values_list("email", flat=True)) == ["second@example.com"]


def test_an_address_another_account_uses_gets_the_same_answer_and_no_mail(browser, alice, bob):
    taken = post(browser, "/v1/user/email", {"email": "bob@example.com"})
    free = post(browser, "/v1/user/email", {"email": "nobody@example.com"})

    assert taken.status_code == free.status_code == 202
    assert taken.json() == {"pendingEmail": "bob@example.com", "verificationSent": True}
    assert [m.to for m in mail.outbox] == [["nobody@example.com"]]
    assert not EmailAddress.objects.filter(user=alice, email="bob@example.com").exists()


@pytest.mark.parametrize(
    ("email", "code"),
    [
        ("not an email", "invalid_email"),
        ("alice@example.com", "same_email"),
    ],
)
def test_a_bad_new_email_is_refused(browser, alice, email, code):
    response = post(browser, "/v1/user/email", {"email": email})
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert not mail.outbox


def test_the_account_pages_email_change_keeps_the_unverified_login_too(browser, alice):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=False, primary=True)

    browser.post("/accounts/email/", {"action_add": "", "email": "alice.two@example.com"})

    alice.refresh_from_db()
    assert alice.email == "alice@example.com"
    assert EmailAddress.objects.filter(user=alice, email="alice.two@example.com").exists()
    assert mail.outbox[-1].to == ["alice.two@example.com"]
