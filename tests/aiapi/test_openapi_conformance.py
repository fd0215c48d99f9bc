"""Our OpenAI-compatible responses validate against OpenAI's published OpenAPI spec."""

import orjson

from tests.support.openapi import assert_valid

HELLO = [{"role": "user", "content": "hello"}]


def test_chat_completion_conforms(http):
    response = http.post("/v1/chat/completions", json={"model": "thinker", "messages": HELLO})
    assert_valid(response.json(), "CreateChatCompletionResponse")


def test_tool_call_completion_conforms(http):
    from tests.aiapi.test_openai_sdk import TOOLS

    response = http.post(
        "/v1/chat/completions", json={"model": "toolsy", "messages": HELLO, "tools": TOOLS}
    )
    assert_valid(response.json(), "CreateChatCompletionResponse")


def test_every_stream_chunk_conforms(http):
    from tests.aiapi.test_openai_sdk import TOOLS

    for body in (
        {"model": "thinker", "messages": HELLO, "stream": True},
        {"model": "toolsy", "messages": HELLO, "tools": TOOLS, "stream": True},
    ):
        with http.stream("POST", "/v1/chat/completions", json=body) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data: {")]
        assert lines
        for line in lines:
            assert_valid(orjson.loads(line[6:]), "CreateChatCompletionStreamResponse")


def test_embeddings_conform(http):
    response = http.post("/v1/embeddings", json={"model": "emb", "input": ["a", "b"]})
    assert_valid(response.json(), "CreateEmbeddingResponse")
    # The spec models embeddings as float arrays only; base64 differs in that field alone.
    response = http.post(
        "/v1/embeddings", json={"model": "emb", "input": "a", "encoding_format": "base64"}
    )
    payload = response.json()
    assert isinstance(payload["data"][0]["embedding"], str)
    payload["data"][0]["embedding"] = [0.0]
    assert_valid(payload, "CreateEmbeddingResponse")


def test_model_list_conforms(http):
    assert_valid(http.get("/v1/models").json(), "ListModelsResponse")
    assert_valid(http.get("/v1/models/fast").json(), "Model")


def test_errors_conform(http):
    response = http.post("/v1/chat/completions", json={"model": "nope", "messages": HELLO})
    assert_valid(response.json(), "ErrorResponse")


def test_the_extracted_schemas_match_the_shared_spec():
    """tests/support/openai_schemas.json is a faithful extract of ../shared's spec."""
    import json
    from pathlib import Path

    import pytest
    import yaml

    spec_path = Path(__file__).resolve().parents[3] / "shared" / "openai-openapi.yaml"
    if not spec_path.exists():
        pytest.skip("../shared/openai-openapi.yaml is not beside this checkout")
    spec = yaml.load(spec_path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    extract = json.loads(
        (Path(__file__).resolve().parents[1] / "support" / "openai_schemas.json").read_text()
    )
    for name, schema in extract["components"]["schemas"].items():
        assert json.loads(json.dumps(spec["components"]["schemas"][name], default=str)) == schema
