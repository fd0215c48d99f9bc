"""Operators manage users, keys and the catalogue in Django admin; a key's hash never shows."""

import pytest

from accounts.api_keys import api_key_create
from accounts.models import ApiKey
from aiapi.catalogue import catalogue_load_file
from aiapi.models import AiModel
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    admin = UserFactory(email="ops@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return admin


def test_the_key_list_and_page_never_show_the_hash(client, operator, alice):
    api_key, plaintext = api_key_create(user=alice, name="laptop")
    listing = client.get("/admin/accounts/apikey/").content.decode()
    page = client.get(f"/admin/accounts/apikey/{api_key.pk}/change/").content.decode()
    assert api_key.prefix in listing
    for html in (listing, page):
        assert api_key.hashed_key not in html
        assert plaintext not in html


def test_the_revoke_action_revokes_selected_keys(client, operator, alice):
    api_key, _ = api_key_create(user=alice)
    response = client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke_keys", "_selected_action": [api_key.pk]},
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=api_key.pk).revoked


def test_models_can_be_deactivated_in_bulk(client, operator, settings):
    catalogue_load_file(path=settings.MODEL_CATALOGUE_FILE)
    demo = AiModel.objects.get(public_id="demo")
    client.post("/admin/aiapi/aimodel/", {"action": "deactivate", "_selected_action": [demo.pk]})
    assert not AiModel.objects.get(pk=demo.pk).active
    client.post("/admin/aiapi/aimodel/", {"action": "activate", "_selected_action": [demo.pk]})
    assert AiModel.objects.get(pk=demo.pk).active


def test_a_provider_key_entered_in_admin_is_stored_encrypted_and_never_shown(
    client, operator, settings
):
    catalogue_load_file(path=settings.MODEL_CATALOGUE_FILE)
    from aiapi.models import Provider

    provider = Provider.objects.get(name="openai")
    response = client.post(
        f"/admin/aiapi/provider/{provider.pk}/change/",
        {
            "name": "openai",
            "kind": "openai",
            "base_url": "",
            "api_key_env": "",
            "active": "on",
            "new_api_key": "sk-very-secret-upstream",
        },
    )
    assert response.status_code == 302, response.content
    provider.refresh_from_db()
    assert provider.get_api_key() == "sk-very-secret-upstream"
    assert "sk-very-secret-upstream" not in provider.api_key_encrypted
    page = client.get(f"/admin/aiapi/provider/{provider.pk}/change/").content.decode()
    assert "sk-very-secret-upstream" not in page and provider.api_key_encrypted not in page
