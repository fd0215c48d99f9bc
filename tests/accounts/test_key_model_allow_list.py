"""A key can be limited to some models. Carol gives her "fast only" key to a script: it sees
and uses only the models she ticked; any other model is a 403 `model_not_allowed` that charges
nothing, whatever the route or wire format (chat, Responses, Anthropic Messages, embeddings,
images, the WebSocket). Driven with the official SDKs over real HTTP."""

import asyncio
from decimal import Decimal

import anthropic
import openai
import orjson
import pytest
from django.test import Client

from accounts.models import ApiKey
from billing.models import LedgerEntry, UsageRecord
from billing.selectors import balance_of, ledger_sum
from media_tools.models import MediaJob
from tests.aiapi.test_openai_sdk import wait_for_record

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def carols_browser(carol) -> Client:
    browser = Client()
    browser.force_login(carol)
    return browser


def create_key(browser, **body):
    return browser.post("/v1/user/keys", body, content_type="application/json")


def change_key(browser, key_id, **body):
    return browser.patch(f"/v1/user/keys/{key_id}", body, content_type="application/json")


@pytest.fixture
def fast_only(carols_browser, catalogue) -> dict:
    """Carol's key for a script that may use the `fast` chat model and `emb` embeddings."""
    created = create_key(carols_browser, name="fast only", allowed_models=["fast", "emb"])
    assert created.status_code == 201, created.content
    return created.json()


@pytest.fixture
def script(gateway_url, fast_only) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=fast_only["key"], max_retries=0)


def assert_not_allowed(error, model):
    assert error.status_code == 403
    body = error.response.json()["error"]
    assert body["code"] == "model_not_allowed"
    assert body["type"] == "invalid_request_error"
    assert f"'{model}'" in body["message"]


def assert_nothing_charged(carol):
    assert balance_of(user=carol) == Decimal(10) == ledger_sum(user=carol)
    assert not UsageRecord.objects.exists()
    assert not LedgerEntry.objects.filter(kind="usage").exists()


# --- Managing the list ----------------------------------------------------------------------


def test_a_new_key_keeps_the_models_it_was_given(carols_browser, fast_only):
    assert fast_only["allowedModels"] == ["fast", "emb"]
    [listed] = carols_browser.get("/v1/user/keys").json()["data"]
    assert listed["allowedModels"] == ["fast", "emb"]


def test_a_key_without_a_list_may_use_every_model(carols_browser, catalogue):
    created = create_key(carols_browser, name="anything")
    assert created.status_code == 201 and created.json()["allowedModels"] == []


@pytest.mark.parametrize("allowed", [["fast", "no-such-model"], ["retired"], "fast", [1]], ids=str)
def test_unknown_or_inactive_models_are_refused_and_no_key_is_made(
    carols_browser, catalogue, allowed
):
    refused = create_key(carols_browser, name="typo", allowed_models=allowed)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "allowed_models"
    assert not ApiKey.objects.exists()


def test_changing_the_list_takes_effect_on_the_next_request(carols_browser, fast_only, script):
    assert {m.id for m in script.models.list()} == {"fast", "emb"}

    changed = change_key(carols_browser, fast_only["id"], allowed_models=["claude"])
    assert changed.status_code == 200 and changed.json()["allowedModels"] == ["claude"]
    assert [m.id for m in script.models.list()] == ["claude"]
    assert script.chat.completions.create(model="claude", messages=HELLO).choices[0].message

    reopened = change_key(carols_browser, fast_only["id"], allowed_models=None)
    assert reopened.json()["allowedModels"] == []
    assert "plain" in {m.id for m in script.models.list()}


def test_renaming_leaves_the_list_alone(carols_browser, fast_only):
    renamed = change_key(carols_browser, fast_only["id"], name="renamed")
    assert renamed.json()["name"] == "renamed"
    assert renamed.json()["allowedModels"] == ["fast", "emb"]


def test_a_bad_change_is_refused_and_changes_nothing(carols_browser, fast_only):
    refused = change_key(carols_browser, fast_only["id"], allowed_models=["nope"])
    assert refused.status_code == 400 and "nope" in refused.json()["error"]["message"]
    assert ApiKey.objects.get(pk=fast_only["id"]).allowed_models == ["fast", "emb"]


def test_an_operator_sets_the_list_in_admin(client, carol, fast_only, script):
    from tests.factories import UserFactory

    client.force_login(UserFactory(email="ops@example.com", is_staff=True, is_superuser=True))
    page = client.get(f"/admin/accounts/apikey/{fast_only['id']}/change/").content.decode()
    assert 'name="allowed_models"' in page and 'value="claude"' in page

    saved = client.post(
        f"/admin/accounts/apikey/{fast_only['id']}/change/",
        {"name": "fast only", "allowed_models": ["plain", "fast"]},
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert sorted(ApiKey.objects.get(pk=fast_only["id"]).allowed_models) == ["fast", "plain"]
    assert {m.id for m in script.models.list()} == {"fast", "plain"}


# --- Using it -------------------------------------------------------------------------------


def test_the_model_list_shows_only_the_allowed_models(script, sdk):
    assert sorted(m.id for m in script.models.list()) == ["emb", "fast"]
    assert script.models.retrieve("fast").id == "fast"
    with pytest.raises(openai.PermissionDeniedError) as refused:
        script.models.retrieve("claude")
    assert_not_allowed(refused.value, "claude")
    # Carol's other key, with no list, still sees the whole catalogue.
    assert {"fast", "claude", "plain"} <= {m.id for m in sdk.models.list()}


def test_an_allowed_model_answers(script, carol):
    reply = script.chat.completions.with_raw_response.create(model="fast", messages=HELLO)
    assert reply.parse().choices[0].message.content
    record = wait_for_record(reply.headers["x-request-id"])
    assert record.model == "fast" and record.cost > 0


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_any_other_chat_model_is_refused_and_charges_nothing(script, carol, upstream, stream):
    with pytest.raises(openai.PermissionDeniedError) as refused:
        script.chat.completions.create(model="claude", messages=HELLO, stream=stream)
    assert_not_allowed(refused.value, "claude")
    assert_nothing_charged(carol)
    assert upstream.requests() == []


def test_the_responses_api_is_refused_too(script, carol):
    with pytest.raises(openai.PermissionDeniedError) as refused:
        script.responses.create(model="plain", input="hello")
    assert_not_allowed(refused.value, "plain")
    assert_nothing_charged(carol)


def test_the_legacy_completions_api_is_refused_too(script, carol):
    with pytest.raises(openai.PermissionDeniedError) as refused:
        script.completions.create(model="plain", prompt="hello")
    assert_not_allowed(refused.value, "plain")
    assert_nothing_charged(carol)


def test_anthropics_sdk_is_refused_too(gateway_url, fast_only, carol):
    client = anthropic.Anthropic(base_url=gateway_url, api_key=fast_only["key"], max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        client.messages.create(model="claude", max_tokens=20, messages=HELLO)
    assert "'claude'" in refused.value.message
    with pytest.raises(anthropic.PermissionDeniedError):
        client.messages.count_tokens(model="claude", messages=HELLO)
    assert client.messages.count_tokens(model="fast", messages=HELLO).input_tokens > 0
    assert_nothing_charged(carol)


def test_embeddings_follow_the_list(carols_browser, fast_only, script, carol):
    assert script.embeddings.create(model="emb", input="fine").data
    spent = balance_of(user=carol)
    change_key(carols_browser, fast_only["id"], allowed_models=["fast"])
    with pytest.raises(openai.PermissionDeniedError) as refused:
        script.embeddings.create(model="emb", input="no")
    assert_not_allowed(refused.value, "emb")
    assert balance_of(user=carol) == spent


def test_an_image_job_of_another_model_is_refused_before_any_job(script, carol):
    with pytest.raises(openai.PermissionDeniedError) as refused:
        script.images.generate(model="demo-image", prompt="a fox")
    assert_not_allowed(refused.value, "demo-image")
    assert not MediaJob.objects.exists()
    assert_nothing_charged(carol)


async def test_the_websocket_answers_with_an_error_frame_and_stays_open(gateway_url, fast_only):
    from websockets.asyncio.client import connect

    url = gateway_url.replace("http://", "ws://") + "/v1/ai/chat/ws"
    headers = {"Authorization": f"Bearer {fast_only['key']}"}
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(
            orjson.dumps({"type": "chat", "id": "1", "model": "claude", "messages": HELLO})
        )
        refused = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert refused["type"] == "error" and refused["id"] == "1"
        assert refused["code"] == "model_not_allowed" and refused["status"] == 403
        await ws.send(orjson.dumps({"type": "chat", "id": "2", "model": "fast", "messages": HELLO}))
        frames = []
        while not frames or frames[-1]["type"] not in ("done", "error"):
            frames.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
        assert frames[-1]["type"] == "done"
