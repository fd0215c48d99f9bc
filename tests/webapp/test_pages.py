"""The pages themselves, through Django's test client: who sees what, and what a page starts
with (the same JSON the API would answer)."""

import json
import re
from decimal import Decimal

import pytest

from aiapi.catalogue import catalogue_load
from aiapi.conversations import turn_begin

pytestmark = pytest.mark.django_db

CATALOGUE = """
[[providers]]
name = "demo"
kind = "demo"

[[models]]
id = "chatty"
display_name = "Chatty"
provider = "demo"
upstream = "demo"
vision = true
input_price = 10
output_price = 0.15

[[models]]
id = "vectors"
provider = "demo"
upstream = "demo-embedding"
kind = "embedding"

[[models]]
id = "gone"
provider = "demo"
upstream = "demo"
active = false
"""


@pytest.fixture(autouse=True)
def models():
    catalogue_load(text=CATALOGUE)


def page_state(response) -> dict:
    match = re.search(
        r'<script id="chuk-state" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(match.group(1))


def test_a_visitor_sees_the_landing_page_with_the_active_chat_models_and_their_prices(client):
    response = client.get("/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Every AI model, one chat." in page
    assert 'href="/accounts/signup/"' in page and 'href="/accounts/login/"' in page
    assert "Chatty" in page and "vision" in page
    assert "$10</td>" in page and "$0.15</td>" in page  # plain decimals, never 1E+1
    assert "vectors" not in page and "gone" not in page


def test_a_signed_in_user_gets_the_chat_app_with_chat_models_and_recent_chats(client, alice):
    turn_begin(
        owner_id=alice.pk,
        conversation_id=None,
        model="chatty",
        new_messages=[{"role": "user", "content": "Plan a trip to Lisbon"}],
    )
    client.force_login(alice)
    response = client.get("/")
    assert response.status_code == 200
    state = page_state(response)
    assert [m["id"] for m in state["models"]] == ["chatty"]
    assert state["models"][0]["vision"] is True
    assert state["conversation"] is None
    assert [c["title"] for c in state["conversations"]["data"]] == ["Plan a trip to Lisbon"]
    assert 'type="module"' in response.content.decode()


def test_a_conversation_page_starts_with_its_messages(client, alice):
    conversation_id, _ = turn_begin(
        owner_id=alice.pk,
        conversation_id=None,
        model="chatty",
        new_messages=[{"role": "user", "content": "What is a monad?"}],
    )
    client.force_login(alice)
    response = client.get(f"/c/{conversation_id}")
    state = page_state(response)
    assert state["conversation"]["id"] == conversation_id
    assert state["conversation"]["messages"][0]["content"] == "What is a monad?"
    assert "<title>What is a monad? · Chuk Chat</title>" in response.content.decode()


def test_someone_elses_conversation_is_not_found(client, alice, bob):
    conversation_id, _ = turn_begin(
        owner_id=alice.pk,
        conversation_id=None,
        model="chatty",
        new_messages=[{"role": "user", "content": "private"}],
    )
    client.force_login(bob)
    response = client.get(f"/c/{conversation_id}")
    assert response.status_code == 404
    assert "private" not in response.content.decode()


def test_a_conversation_page_asks_a_visitor_to_log_in_first(client):
    response = client.get("/c/1")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/c/1"


@pytest.mark.parametrize(
    "path",
    ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"],
)
def test_the_sign_in_pages_wear_the_sites_look(client, path):
    page = client.get(path).content.decode()
    assert 'class="brand"' in page and "app/app.css" in page
    assert 'class="card' in page and 'class="form-field' in page


def test_the_log_out_page_wears_the_sites_look(client, alice):
    client.force_login(alice)
    page = client.get("/accounts/logout/").content.decode()
    assert 'class="card' in page and "btn-primary" in page


@pytest.mark.parametrize("path", ["/usage", "/keys", "/billing", "/settings"])
def test_the_account_pages_ask_a_visitor_to_log_in_first(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_the_account_pages_show_the_plan_and_balance_and_link_each_other(client, alice):
    from billing.ledger import credit_grant
    from billing.models import Plan

    Plan.objects.filter(slug="free").update(monthly_allowance=0)  # her balance is this credit
    credit_grant(user=alice, amount=Decimal("12.3456"), description="test credit")
    client.force_login(alice)
    for path in ("/usage", "/keys", "/billing", "/settings"):
        page = client.get(path).content.decode()
        assert "$12.34" in page  # whole cents, rounded down: never more than there is
        assert 'aria-current="page"' in page
        for link in ('href="/usage"', 'href="/keys"', 'href="/billing"', 'href="/settings"'):
            assert link in page
    chat = client.get("/").content.decode()
    assert "$12.34" in chat and 'href="/billing"' in chat
    assert page_state(client.get("/"))["account"]["balance"] == "12.3456"


def test_the_keys_page_starts_with_the_keys_as_the_api_lists_them(client, alice, alice_key):
    client.force_login(alice)
    state = page_state(client.get("/keys"))
    assert state["keys"] == client.get("/v1/user/keys").json()["data"]
    assert alice_key not in client.get("/keys").content.decode()  # never the plaintext


def test_the_usage_page_starts_with_this_months_figures(client, alice):
    client.force_login(alice)
    state = page_state(client.get("/usage"))
    assert state["thisMonth"] == client.get("/v1/user/status").json()["thisMonth"]
    assert {"id": "chatty", "name": "Chatty"} in state["models"]


def test_the_billing_page_says_plainly_when_payments_are_not_set_up(client, alice, settings):
    settings.STRIPE_SECRET_KEY = ""
    client.force_login(alice)
    response = client.get("/billing")
    assert "Payments are not set up on this site" in response.content.decode()
    state = page_state(response)
    assert state["configured"] is False
    assert state["topup"] == {"min": "5", "max": "500"}


def test_the_chat_app_knows_the_plan_and_the_image_models(client, alice):
    catalogue_load(
        text=CATALOGUE
        + """
[[models]]
id = "painter"
provider = "demo"
upstream = "demo-image"
kind = "image"
image_price = 0.04

[[models]]
id = "opus"
display_name = "Opus"
provider = "demo"
upstream = "demo"
pro_only = true
"""
    )
    client.force_login(alice)
    state = page_state(client.get("/"))
    assert state["account"]["plan"] == "free" and state["account"]["premiumModels"] is False
    assert [m["id"] for m in state["imageModels"]] == ["painter"]
    assert {m["id"]: m["pro_only"] for m in state["models"]} == {"chatty": False, "opus": True}


def test_the_landing_page_says_when_an_account_was_deleted(client):
    assert "Your account has been deleted" in client.get("/?account=deleted").content.decode()
    assert "Your account has been deleted" not in client.get("/").content.decode()
