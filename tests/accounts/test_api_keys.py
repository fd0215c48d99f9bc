"""API keys: stored hashed, shown once, and every bad key is a 401 in the API's error format."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.api_keys import api_key_create, api_key_revoke
from accounts.authentication import authenticate_api_key, clear_key_cache
from accounts.models import ApiKey
from billing.selectors import balance_of, ledger_sum

pytestmark = pytest.mark.django_db


def status(client, key=None, **headers):
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client.get("/v1/user/status", **headers)


def assert_invalid_key(response):
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"
    assert error["message"]


def test_only_a_hash_of_the_key_is_stored(alice):
    api_key, plaintext = api_key_create(user=alice, name="ci")

    assert plaintext.startswith("sk-chuk-")
    assert len(plaintext) > 40
    assert api_key.hashed_key == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext.startswith(api_key.prefix)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apikey")
        rows = cursor.fetchall()
    assert all(plaintext not in str(row) for row in rows)
    assert plaintext[len(api_key.prefix) :] not in str(rows)


def test_a_user_can_hold_many_keys(alice):
    api_key_create(user=alice, name="laptop")
    api_key_create(user=alice, name="server")
    assert sorted(alice.api_keys.values_list("name", flat=True)) == ["laptop", "server"]


def test_a_valid_key_authenticates(client, alice, alice_key):
    response = status(client, alice_key)
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"
    assert response.json()["key"]["name"] == "alice's laptop"


def test_using_a_key_records_when_it_was_last_used(client, alice, alice_key):
    assert ApiKey.objects.get().last_used_at is None
    status(client, alice_key)
    assert ApiKey.objects.get().last_used_at is not None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer"},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
        {"HTTP_AUTHORIZATION": "Bearer not-a-key"},
        {"HTTP_AUTHORIZATION": "Bearer sk-chuk-" + "A" * 43},
    ],
    ids=["missing", "empty", "wrong-scheme", "malformed", "unknown"],
)
def test_bad_keys_get_401(client, alice, headers):
    assert_invalid_key(client.get("/v1/user/status", **headers))


def test_a_revoked_key_stops_working(client, alice):
    api_key, plaintext = api_key_create(user=alice)
    assert status(client, plaintext).status_code == 200

    api_key_revoke(api_key=api_key)

    assert_invalid_key(status(client, plaintext))


def test_revocation_elsewhere_takes_effect_within_the_cache_lifetime(client, alice, settings):
    api_key, plaintext = api_key_create(user=alice)
    assert status(client, plaintext).status_code == 200
    # Revoked by another process: this one only learns when its cached entry runs out.
    ApiKey.objects.filter(pk=api_key.pk).update(revoked=True)
    clear_key_cache()  # the cache lifetime (seconds) has passed
    assert_invalid_key(status(client, plaintext))


def test_an_expired_key_is_refused_even_while_cached(client, alice):
    api_key, plaintext = api_key_create(user=alice, expires_at=timezone.now() + timedelta(hours=1))
    assert status(client, plaintext).status_code == 200
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    clear_key_cache()
    response = status(client, plaintext)
    assert_invalid_key(response)
    assert "expired" in response.json()["error"]["message"]


def test_a_cached_key_costs_no_query(alice, alice_key, django_assert_num_queries):
    authenticate_api_key(alice_key)
    with django_assert_num_queries(0):
        principal = authenticate_api_key(alice_key)
    assert principal.user_id == alice.pk


def test_an_inactive_users_key_is_refused(client, alice, alice_key):
    alice.is_active = False
    alice.save()
    assert_invalid_key(status(client, alice_key))


def test_createapikey_creates_user_grants_credits_and_prints_key_last(client):
    out = StringIO()
    call_command(
        "createapikey", "carol@example.com", "--credits", "12.50", "--name", "ci", stdout=out
    )
    key = out.getvalue().strip().splitlines()[-1]

    response = status(client, key)
    assert response.status_code == 200
    assert response.json()["email"] == "carol@example.com"
    assert response.json()["credits"]["balance"] == "12.5"
    user = ApiKey.objects.get(name="ci").user
    assert balance_of(user=user) == ledger_sum(user=user)


def test_createapikey_refuses_bad_input_and_changes_nothing():
    from django.core.management.base import CommandError

    for args in (
        ["not-an-email"],
        ["dave@example.com", "--credits", "lots"],
        ["dave@example.com", "--credits", "-5"],
    ):
        with pytest.raises(CommandError):
            call_command("createapikey", *args, stdout=StringIO())
    assert not ApiKey.objects.exists()
