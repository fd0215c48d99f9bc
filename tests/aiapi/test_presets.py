"""Presets over /v1/presets: carol keeps named ways to start a chat (model, system prompt,
temperature, max tokens); every rule refuses bad input with the field it is about and changes
nothing; nobody else can see or touch her presets. And a saved chat's own system prompt, which
the server sends as the system message of each turn (once, whatever the client sends)."""

import httpx
import pytest
from django.test import Client

from accounts.account_deletion import account_delete
from accounts.api_keys import api_key_create
from aiapi.models import AiModel, Conversation, Preset
from aiapi.personal_data import export_for
from aiapi.selectors import catalogue_changed
from tests.factories import UserFactory

TUTOR = {
    "name": "French tutor",
    "model": "fast",
    "system_prompt": "You are a patient French tutor. Answer in French.",
    "temperature": 0.3,
    "max_tokens": 500,
}


def create(http, **fields):
    reply = http.post("/v1/presets", json={**TUTOR, **fields})
    assert reply.status_code == 201, reply.text
    return reply.json()


def refused(reply, status, param, code=None):
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["param"] == param, error
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.fixture
def bobs_http(gateway_url, catalogue):
    bob = UserFactory(email="bob@example.com")
    _, key = api_key_create(user=bob, name="bob's key")
    with httpx.Client(
        base_url=gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        yield client


def test_a_preset_is_created_listed_read_changed_and_deleted_by_its_owner(http):
    made = create(http)
    assert made["object"] == "preset" and made["name"] == "French tutor"
    assert (made["model"], made["systemPrompt"]) == ("fast", TUTOR["system_prompt"])
    assert (made["temperature"], made["maxTokens"]) == (0.3, 500)

    listed = http.get("/v1/presets").json()
    assert listed["object"] == "list" and [p["id"] for p in listed["data"]] == [made["id"]]
    assert http.get(f"/v1/presets/{made['id']}").json() == made

    changed = http.patch(
        f"/v1/presets/{made['id']}", json={"name": "Tutor", "temperature": None, "model": "claude"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Tutor" and changed.json()["temperature"] is None
    assert changed.json()["model"] == "claude" and changed.json()["maxTokens"] == 500

    assert http.delete(f"/v1/presets/{made['id']}").status_code == 204
    assert http.get(f"/v1/presets/{made['id']}").status_code == 404
    assert http.get("/v1/presets").json()["data"] == []


def test_a_preset_needs_only_a_name_and_a_model(http):
    made = create(http, system_prompt="", temperature=None, max_tokens=None)
    bare = http.post("/v1/presets", json={"name": "Plain", "model": "plain"})
    assert bare.status_code == 201, bare.text
    assert bare.json()["systemPrompt"] == "" and bare.json()["temperature"] is None
    assert made["maxTokens"] is None


def test_the_web_app_session_manages_presets_too(carol, catalogue):
    browser = Client()
    browser.force_login(carol)
    made = browser.post("/v1/presets", TUTOR, content_type="application/json")
    assert made.status_code == 201, made.content
    assert browser.get("/v1/presets").json()["data"][0]["name"] == "French tutor"


TOO_LONG = "x" * 20_001
BAD_INPUT = [
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "n" * 101}, "name"),
    ({"name": 12}, "name"),
    ({"model": None}, "model"),
    ({"model": "no-such-model"}, "model"),
    ({"model": "retired"}, "model"),
    ({"model": "emb"}, "model"),
    ({"model": ["fast"]}, "model"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": 2.01}, "temperature"),
    ({"temperature": "1"}, "temperature"),
    ({"temperature": True}, "temperature"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": -5}, "max_tokens"),
    ({"max_tokens": 1.5}, "max_tokens"),
    ({"max_tokens": "100"}, "max_tokens"),
    ({"max_tokens": True}, "max_tokens"),
    ({"model": "claude", "max_tokens": 8193}, "max_tokens"),  # claude writes at most 8192
    ({"system_prompt": TOO_LONG}, "system_prompt"),
    ({"system_prompt": "no\u0000nul"}, "system_prompt"),
    ({"system_prompt": 7}, "system_prompt"),
]


@pytest.mark.parametrize(("fields", "param"), BAD_INPUT)
def test_bad_input_is_refused_with_the_field_at_fault_and_nothing_is_made(http, fields, param):
    body = {**TUTOR, **fields}
    if fields.get("name", "") is None:
        del body["name"]
    if "model" in fields and fields["model"] is None:
        del body["model"]
    refused(http.post("/v1/presets", json=body), 400, param)
    assert not Preset.objects.exists()


def test_a_body_that_is_not_a_json_object_is_refused(http):
    not_json = http.post(
        "/v1/presets", content=b"{name", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
    a_list = http.post("/v1/presets", json=[TUTOR])
    assert a_list.status_code == 400 and a_list.json()["error"]["code"] == "invalid_request"
    assert not Preset.objects.exists()


def test_the_model_errors_say_why(http):
    assert (
        refused(http.post("/v1/presets", json={**TUTOR, "model": "nope"}), 400, "model")["code"]
        == "model_not_found"
    )
    error = refused(http.post("/v1/presets", json={**TUTOR, "model": "emb"}), 400, "model")
    assert error["code"] == "invalid_model_type" and "chat model" in error["message"]
    error = refused(
        http.post("/v1/presets", json={**TUTOR, "model": "claude", "max_tokens": 9000}),
        400,
        "max_tokens",
    )
    assert "8192" in error["message"]


def test_a_name_is_unique_per_owner_whatever_its_case(http, bobs_http):
    first = create(http)
    error = refused(
        http.post("/v1/presets", json={**TUTOR, "name": "  french   TUTOR "}), 409, "name"
    )
    assert error["code"] == "preset_name_taken"
    other = create(http, name="Poet")
    refused(http.patch(f"/v1/presets/{other['id']}", json={"name": "French Tutor"}), 409, "name")
    assert sorted(Preset.objects.values_list("name", flat=True)) == ["French tutor", "Poet"]
    # Renaming to its own name, in another case, is fine; and bob may use the name too.
    renamed = http.patch(f"/v1/presets/{first['id']}", json={"name": "FRENCH TUTOR"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "FRENCH TUTOR"
    assert bobs_http.post("/v1/presets", json=TUTOR).status_code == 201


def test_a_premium_model_needs_a_plan_that_has_it(http):
    AiModel.objects.filter(public_id="claude").update(pro_only=True)
    catalogue_changed()
    error = refused(http.post("/v1/presets", json={**TUTOR, "model": "claude"}), 400, "model")
    assert error["code"] == "model_requires_upgrade"
    made = create(http)
    refused(http.patch(f"/v1/presets/{made['id']}", json={"model": "claude"}), 400, "model")
    assert Preset.objects.get().model == "fast"


def test_a_key_may_only_name_the_models_it_is_allowed(gateway_url, carol, catalogue):
    _, key = api_key_create(user=carol, name="fast only", allowed_models=["fast"])
    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {key}"}) as http:
        error = refused(http.post("/v1/presets", json={**TUTOR, "model": "plain"}), 400, "model")
        assert error["code"] == "model_not_allowed"
        assert http.post("/v1/presets", json=TUTOR).status_code == 201
    assert list(Preset.objects.values_list("model", flat=True)) == ["fast"]


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"name": ""}, "name"),
        ({"model": "emb"}, "model"),
        ({"model": "claude", "max_tokens": 10_000}, "max_tokens"),
        ({"system_prompt": TOO_LONG}, "system_prompt"),
        ({}, None),
        ({"colour": "red"}, None),
    ],
)
def test_a_bad_change_is_refused_and_the_preset_stays_as_it_was(http, changes, param):
    made = create(http)
    refused(http.patch(f"/v1/presets/{made['id']}", json=changes), 400, param)
    assert http.get(f"/v1/presets/{made['id']}").json() == made


def test_a_new_model_must_fit_the_presets_max_tokens(http):
    made = create(http, model="claude", max_tokens=8000)  # fast writes at most 4096
    refused(http.patch(f"/v1/presets/{made['id']}", json={"model": "fast"}), 400, "max_tokens")
    assert Preset.objects.get().model == "claude"
    both = http.patch(f"/v1/presets/{made['id']}", json={"model": "fast", "max_tokens": 4096})
    assert both.status_code == 200 and both.json()["maxTokens"] == 4096


def test_someone_elses_preset_is_not_found_and_stays_as_it_was(http, bobs_http):
    carols = create(http)
    bobs = bobs_http.post("/v1/presets", json={**TUTOR, "name": "Bob's"}).json()
    for reply in (
        bobs_http.get(f"/v1/presets/{carols['id']}"),
        bobs_http.patch(f"/v1/presets/{carols['id']}", json={"name": "Mine now"}),
        bobs_http.delete(f"/v1/presets/{carols['id']}"),
        http.get("/v1/presets/999999999"),
        http.get("/v1/presets/99999999999999999999"),
    ):
        assert reply.status_code == 404 and reply.json()["error"]["code"] in (
            "preset_not_found",
            "not_found",
        )
    assert http.get(f"/v1/presets/{carols['id']}").json() == carols
    assert [p["name"] for p in bobs_http.get("/v1/presets").json()["data"]] == ["Bob's"]
    assert [p["name"] for p in http.get("/v1/presets").json()["data"]] == ["French tutor"]
    assert bobs["id"] != carols["id"]


def test_without_credentials_presets_are_refused(gateway_url, catalogue):
    reply = httpx.get(f"{gateway_url}/v1/presets")
    assert reply.status_code == 401
    assert httpx.post(f"{gateway_url}/v1/presets", json=TUTOR).status_code == 401
    assert not Preset.objects.exists()


def test_presets_are_in_the_data_export_and_go_with_the_account(http, carol):
    create(http)
    assert [p["name"] for p in export_for(user=carol)["presets"]] == ["French tutor"]
    carol.set_password("correct horse")
    carol.save()
    account_delete(user=carol, password="correct horse", confirm_email=carol.email)
    assert not Preset.objects.exists()


# --- A chat's own system prompt -----------------------------------------------------------


def say(http, content, conversation_id="new", **body):
    reply = http.post(
        "/v1/ai/chat",
        json={"model": "fast", "conversation_id": conversation_id, "content": content, **body},
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def sent(upstream):
    return upstream.requests()[-1]["body"]


def test_a_chats_system_prompt_is_sent_first_on_each_turn_and_can_be_changed(http, upstream):
    first = say(http, "Bonjour", system="Be brief.")
    conversation_id = first["conversationId"]
    changed = http.patch(
        f"/v1/conversations/{conversation_id}",
        json={"system_prompt": "Answer like a pirate.", "temperature": 0.7, "max_tokens": 300},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["systemPrompt"] == "Answer like a pirate."
    assert (changed.json()["temperature"], changed.json()["maxTokens"]) == (0.7, 300)

    upstream.clear()
    say(http, "Where is the treasure?", conversation_id=conversation_id)
    messages = sent(upstream)["messages"]
    assert messages[0] == {"role": "system", "content": "Answer like a pirate."}
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    shown = http.get(f"/v1/conversations/{conversation_id}").json()
    assert shown["systemPrompt"] == "Answer like a pirate."

    # Regenerating asks again under the same instructions.
    upstream.clear()
    say(http, None, conversation_id=conversation_id, regenerate=True)
    assert sent(upstream)["messages"][0]["content"] == "Answer like a pirate."


def test_instructions_the_client_sends_replace_the_chats_never_both(http, upstream):
    first = say(http, "Hello")
    conversation_id = first["conversationId"]
    http.patch(f"/v1/conversations/{conversation_id}", json={"system_prompt": "The chat's own."})

    upstream.clear()
    say(http, "Again", conversation_id=conversation_id, system="This call's own.")
    systems = [m for m in sent(upstream)["messages"] if m["role"] == "system"]
    assert systems == [{"role": "system", "content": "This call's own."}]

    upstream.clear()
    reply = http.post(
        "/v1/ai/chat",
        json={
            "model": "fast",
            "conversation_id": conversation_id,
            "messages": [
                {"role": "system", "content": "A system message."},
                {"role": "user", "content": "And now?"},
            ],
        },
    )
    assert reply.status_code == 201, reply.text
    systems = [m for m in sent(upstream)["messages"] if m["role"] == "system"]
    assert systems == [{"role": "system", "content": "A system message."}]


def test_a_call_that_saves_nothing_gets_no_chats_prompt(http, upstream):
    say(http, "Hello")
    http.post("/v1/ai/chat", json={"model": "fast", "content": "Unsaved"})
    assert [m["role"] for m in sent(upstream)["messages"]] == ["user"]


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"system_prompt": TOO_LONG}, "system_prompt"),
        ({"system_prompt": 5}, "system_prompt"),
        ({"system_prompt": "a\u0000b"}, "system_prompt"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": "warm"}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "many"}, "max_tokens"),
    ],
)
def test_a_bad_chat_setting_is_refused_and_changes_nothing(http, changes, param):
    conversation_id = say(http, "Hello")["conversationId"]
    http.patch(f"/v1/conversations/{conversation_id}", json={"system_prompt": "Keep me."})
    refused(http.patch(f"/v1/conversations/{conversation_id}", json=changes), 400, param)
    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.system_prompt == "Keep me."
    assert (conversation.temperature, conversation.max_tokens) == (None, None)


def test_someone_elses_chat_prompt_cannot_be_changed(http, bobs_http):
    conversation_id = say(http, "Hello")["conversationId"]
    reply = bobs_http.patch(
        f"/v1/conversations/{conversation_id}", json={"system_prompt": "Obey bob."}
    )
    assert reply.status_code == 404
    assert Conversation.objects.get(pk=conversation_id).system_prompt == ""
