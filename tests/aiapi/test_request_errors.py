"""Bad requests to the OpenAI-compatible API: the seed's error codes, the right status, and
nothing charged or recorded."""

from decimal import Decimal

import pytest

from billing.models import UsageRecord
from billing.selectors import balance_of

HELLO = [{"role": "user", "content": "hello"}]


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["type"]
    return error


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_an_unknown_model_is_model_not_found(http, prefix):
    error = assert_error(
        http.post(f"{prefix}/chat/completions", json={"model": "invalid-model", "messages": HELLO}),
        404,
        "model_not_found",
    )
    assert error["message"] == "Model 'invalid-model' not found or not active"
    assert error["type"] == "invalid_request_error"


def test_an_inactive_model_is_model_not_found(http):
    assert_error(
        http.post("/v1/chat/completions", json={"model": "retired", "messages": HELLO}),
        404,
        "model_not_found",
    )


@pytest.mark.parametrize(
    "messages",
    [
        [],
        None,
        "hello",
        [{"role": "wizard", "content": "x"}],
        [{"role": "user"}],
        [{"role": "user", "content": 5}],
        [{"role": "user", "content": [{"type": "audio"}]}],
        [{"role": "tool", "content": "x"}],
        ["hello"],
    ],
    ids=[
        "empty",
        "missing",
        "string",
        "bad-role",
        "no-content",
        "number",
        "bad-part",
        "tool-without-id",
        "not-objects",
    ],
)
def test_invalid_messages(http, messages, carol):
    body = {"model": "fast"}
    if messages is not None:
        body["messages"] = messages
    assert_error(http.post("/v1/chat/completions", json=body), 400, "invalid_messages")
    assert not UsageRecord.objects.exists()
    assert balance_of(user=carol) == Decimal(10)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 2.5),
        ("temperature", "hot"),
        ("top_p", 1.5),
        ("max_tokens", 0),
        ("max_tokens", "lots"),
        ("stop", [1]),
        ("n", 3),
        ("tools", [{"type": "web"}]),
        ("stream", "yes"),
        ("response_format", {"type": "xml"}),
    ],
)
def test_invalid_parameters_are_400_naming_the_parameter(http, field, value):
    response = http.post(
        "/v1/chat/completions", json={"model": "fast", "messages": HELLO, field: value}
    )
    error = assert_error(response, 400, "invalid_request")
    assert error.get("param") == field


def test_a_body_that_is_not_json_is_invalid_json(http):
    response = http.post(
        "/v1/chat/completions", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_json")


def test_an_embedding_model_cannot_chat(http):
    assert_error(
        http.post("/v1/chat/completions", json={"model": "emb", "messages": HELLO}),
        400,
        "invalid_model_type",
    )


def test_a_chat_model_cannot_embed(http):
    assert_error(
        http.post("/v1/embeddings", json={"model": "fast", "input": "x"}), 400, "invalid_model_type"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"model": "emb"},
        {"model": "emb", "input": ""},
        {"model": "emb", "input": []},
        {"model": "emb", "input": [1]},
    ],
)
def test_embeddings_without_input_is_missing_input(http, body):
    assert_error(http.post("/v1/embeddings", json=body), 400, "missing_input")


def test_a_bad_key_is_401_everywhere(gateway_url):
    import httpx

    for method, path in [
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/api/v1/embeddings"),
    ]:
        response = httpx.request(
            method,
            gateway_url + path,
            headers={"Authorization": "Bearer sk-chuk-nope"},
            json={"model": "fast", "messages": HELLO},
        )
        assert_error(response, 401, "invalid_api_key")


def test_a_user_without_credit_gets_402_and_no_provider_call(gateway_url, upstream, catalogue):
    import httpx

    from accounts.api_keys import api_key_create
    from tests.factories import UserFactory

    _, key = api_key_create(user=UserFactory(email="broke@example.com"))
    upstream.clear()
    response = httpx.post(
        gateway_url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "fast", "messages": HELLO},
    )
    assert_error(response, 402, "insufficient_credits")
    assert upstream.requests() == []
