"""A person's data export holds everything we keep about them and nothing about anyone else;
deleting their account leaves nothing that says who they were (checked table by table), only
the anonymised ledger rows bookkeeping needs."""

import orjson
import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.account_deletion import account_delete
from accounts.api_keys import api_key_create
from accounts.models import DataExport, User
from billing.models import LedgerEntry
from billing.selectors import balance_of, ledger_sum
from tests.factories import UserFactory


@pytest.fixture
def media_root(tmp_path, settings):
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


@pytest.fixture
def carols_history(http, carol, media_root):
    """Carol has chatted (a saved conversation and a plain call), made an image, and holds
    two keys."""
    image = http.post("/v1/media/images", json={"model": "demo-image", "prompt": "carol's cat"})
    assert http.get(f"/v1/media/jobs/{image.json()['id']}").json()["status"] == "succeeded"
    saved = http.post(
        "/v1/ai/chat",
        json={"model": "fast", "conversation_id": "new", "content": "My secret plan for Tuesday"},
    ).json()
    http.post(
        "/v1/ai/chat", json={"model": "plain", "messages": [{"role": "user", "content": "hi"}]}
    )
    api_key_create(user=carol, name="carol's backup key")
    return saved


@pytest.fixture
def dave_history(gateway_url, catalogue):
    import httpx

    from billing.ledger import credit_grant

    dave = UserFactory(email="dave@example.com")
    credit_grant(user=dave, amount=__import__("decimal").Decimal(1))
    _, key = api_key_create(user=dave, name="dave's key")
    httpx.post(
        f"{gateway_url}/v1/ai/chat",
        json={"model": "fast", "conversation_id": "new", "content": "Dave's diary"},
        headers={"Authorization": f"Bearer {key}"},
    )
    return dave


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_an_export_holds_my_data_and_nobody_elses(carol, carol_key, carols_history, dave_history):
    browser = signed_in(carol)
    started = browser.post("/v1/user/exports")
    assert started.status_code == 202
    export = started.json()
    assert export["status"] == "ready"  # Celery runs eagerly in tests

    download = browser.get(export["downloadUrl"])
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    archive = orjson.loads(download.content)
    assert archive["account"]["profile"]["email"] == "carol@example.com"
    assert {k["name"] for k in archive["account"]["apiKeys"]} == {
        "carol's script",
        "carol's backup key",
    }
    [conversation] = archive["chat"]["conversations"]
    assert conversation["messages"][0]["content"] == "My secret plan for Tuesday"
    assert len(archive["chat"]["usage"]) == 3
    [job] = archive["media"]["jobs"]
    assert job["params"]["prompt"] == "carol's cat"
    text = download.content.decode()
    assert "dave" not in text.lower() and "Dave's diary" not in text
    from accounts.api_keys import hash_key

    assert carol_key not in text and hash_key(carol_key) not in text  # only the prefix


def test_an_export_downloads_once(carol, carols_history):
    browser = signed_in(carol)
    export = browser.post("/v1/user/exports").json()
    path = DataExport.objects.get(pk=export["id"]).file.name
    assert browser.get(export["downloadUrl"]).status_code == 200
    again = browser.get(export["downloadUrl"])
    assert again.status_code == 410 and again.json()["error"]["code"] == "export_gone"
    assert not default_storage.exists(path)
    assert browser.get(f"/v1/user/exports/{export['id']}").json()["status"] == "downloaded"


def test_an_export_nobody_downloads_expires(carol, carols_history):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.tasks import data_exports_expire_task

    browser = signed_in(carol)
    export = browser.post("/v1/user/exports").json()
    row = DataExport.objects.get(pk=export["id"])
    row.expires_at = timezone.now() - timedelta(seconds=1)
    row.save()
    assert data_exports_expire_task() == 1
    assert not default_storage.exists(row.file.name)
    assert browser.get(export["downloadUrl"]).status_code == 410


def test_someone_elses_export_is_a_404(carol, carols_history, dave_history):
    export = signed_in(carol).post("/v1/user/exports").json()
    daves = signed_in(dave_history)
    assert daves.get(f"/v1/user/exports/{export['id']}").status_code == 404
    assert daves.get(f"/v1/user/exports/{export['id']}/download").status_code == 404
    assert DataExport.objects.get(pk=export["id"]).status == "ready"


def rows_mentioning(needles: list[str]) -> list[str]:
    """Every row of every table whose values contain any of `needles`."""
    found = []
    for model in apps.get_models():
        for row in model.objects.all().values():
            text = repr(row)
            if any(needle in text for needle in needles):
                found.append(f"{model._meta.label}: {text[:200]}")
    return found


def test_deleting_my_account_leaves_no_personal_data_behind(
    carol, carol_key, carols_history, dave_history, media_root
):
    browser = signed_in(carol)
    browser.post("/v1/user/exports")
    export_file = DataExport.objects.get(user=carol).file.name
    balance_before = balance_of(user=carol)

    deleted = browser.post(
        "/v1/user/delete",
        {"confirm": "carol@example.com", "password": "correct horse battery staple"},
        content_type="application/json",
    )

    assert deleted.status_code == 200
    assert rows_mentioning(["carol@example.com", "carol's", "secret plan", carol_key[:16]]) == []
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if field.many_to_one and field.related_model is User and model is not LedgerEntry:
                owned = model.objects.filter(**{field.name: carol}).count()
                allowed = model._meta.label in {"billing.CreditAccount"}
                assert owned == 0 or allowed, f"{model._meta.label}.{field.name}: {owned} rows"
    carol.refresh_from_db()
    assert not carol.is_active and not carol.has_usable_password()
    assert carol.email.endswith("@deleted.invalid")
    # What bookkeeping needs stays, anonymised: the ledger still adds up.
    assert LedgerEntry.objects.filter(account__user=carol).count() >= 2
    assert balance_of(user=carol) == balance_before == ledger_sum(user=carol)
    assert not default_storage.exists(export_file)
    assert [p for p in media_root.rglob("*") if p.is_file()] == []  # the image is gone too
    # Signed out, the key is dead, and dave keeps everything of his.
    assert browser.get("/v1/user/usage").status_code == 401
    assert (
        Client().get("/v1/user/status", HTTP_AUTHORIZATION=f"Bearer {carol_key}").status_code == 401
    )
    assert rows_mentioning(["Dave's diary"]) != []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"confirm": "someone@else.com", "password": "correct horse battery staple"},
            "confirmation_mismatch",
        ),
        ({"confirm": "carol@example.com", "password": "wrong"}, "wrong_password"),
        ({"confirm": "carol@example.com"}, "invalid_request"),
    ],
)
def test_deleting_needs_the_email_and_the_password(carol, carols_history, body, code):
    response = signed_in(carol).post("/v1/user/delete", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    carol.refresh_from_db()
    assert carol.is_active and carol.email == "carol@example.com"
    assert carol.conversations.count() == 1


def test_deleting_my_account_signs_out_every_browser_of_mine_and_only_mine(carol, bob):
    laptop, phone, bobs = signed_in(carol), signed_in(carol), signed_in(bob)
    for _ in range(50):  # other people's sessions, which the deletion must not read
        signed_in(UserFactory())

    with CaptureQueriesContext(connection) as queries:
        account_delete(
            user=carol, password="correct horse battery staple", confirm_email="carol@example.com"
        )
    # Read before any request: each one resets the query log.
    session_queries = [q["sql"] for q in queries if '"accounts_session"' in q["sql"]]

    assert laptop.get("/v1/user/status").status_code == 401
    assert phone.get("/v1/user/status").status_code == 401
    assert bobs.get("/v1/user/status").status_code == 200
    assert session_queries
    assert all('"accounts_session"."user_id" =' in sql for sql in session_queries)
