"""Real clients other than the Python SDK work against the gateway unchanged, with only the
base URL and key set: the official openai Node SDK, the AI SDK's default OpenAI provider,
LangChain's ChatOpenAI and OpenAIEmbeddings, LiteLLM (as a library, the way applications call
it: completions, embeddings and responses), and openai-agents with its default model."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from billing.models import UsageRecord
from tests.aiapi.test_openai_sdk import upstream_text
from tests.support.loops import run_on_own_loop

NODE_CLIENT = Path(__file__).resolve().parents[1] / "clients" / "node"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="session")
def node_client() -> Path:
    """The Node SDK, installed once from the committed lock file."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed for the Node SDK test")
    installed = NODE_CLIENT / "node_modules"
    if not all((installed / name).exists() for name in ("openai", "ai", "@ai-sdk/openai")):
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=NODE_CLIENT,
            check=True,
            timeout=300,
        )
    return NODE_CLIENT


def test_the_node_sdk_works_unchanged(node_client, gateway_url, carol_key, upstream):
    run = subprocess.run(
        ["node", "client.mjs", f"{gateway_url}/v1", carol_key],
        cwd=node_client,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)

    assert {"fast", "emb"} <= set(result["models"])
    expected = upstream_text(upstream, "fake:tokens=8")
    assert result["text"] == expected == result["streamed"]
    assert result["finishReason"] == "stop"
    assert result["usage"]["completion_tokens"] == result["streamUsage"]["completion_tokens"] == 8
    assert result["dimensions"] > 0
    assert result["refused"] == {"status": 404, "code": "model_not_found"}


def test_the_ai_sdks_default_openai_provider_works_unchanged(
    node_client, gateway_url, carol_key, upstream, gateway_server
):
    """@ai-sdk/openai's default model calls the Responses API (POST /v1/responses)."""
    run = subprocess.run(
        ["node", "ai_sdk.mjs", f"{gateway_url}/v1", carol_key],
        cwd=node_client,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)

    expected = upstream_text(upstream, "fake:tokens=8")
    assert result["text"] == expected == result["streamed"]
    assert result["finishReason"] == "stop"
    assert result["usage"]["outputTokens"] == result["streamUsage"]["outputTokens"] == 8
    gateway_server.wait_idle()
    records = UsageRecord.objects.filter(endpoint="responses")
    assert records.count() == 2 and all(r.status == "ok" for r in records)


def test_langchain_chat_and_embeddings_work_unchanged(gateway_url, carol_key, upstream):
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings

    chat = ChatOpenAI(model="fast", base_url=f"{gateway_url}/v1", api_key=carol_key, max_retries=0)
    expected = upstream_text(upstream, "fake:tokens=8")

    answer = chat.invoke("hello")
    assert answer.content == expected
    assert answer.usage_metadata["output_tokens"] == 8
    assert "".join(chunk.content for chunk in chat.stream("hello")) == expected

    embeddings = OpenAIEmbeddings(
        model="emb",
        base_url=f"{gateway_url}/v1",
        api_key=carol_key,
        check_embedding_ctx_length=False,  # that would need tiktoken's downloaded encodings
        max_retries=0,
    )
    vectors = embeddings.embed_documents(["one", "two"])
    assert len(vectors) == 2 and len(vectors[0]) > 0


def test_litellm_works_unchanged(gateway_url, carol_key, upstream, monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch from GitHub
    import litellm

    expected = upstream_text(upstream, "fake:tokens=8")
    reply = litellm.completion(
        model="openai/fast", api_base=f"{gateway_url}/v1", api_key=carol_key, messages=HELLO
    )
    assert reply.choices[0].message.content == expected
    assert reply.usage.completion_tokens == 8

    chunks = litellm.completion(
        model="openai/fast",
        api_base=f"{gateway_url}/v1",
        api_key=carol_key,
        messages=HELLO,
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected

    embedded = litellm.embedding(
        model="openai/emb", api_base=f"{gateway_url}/v1", api_key=carol_key, input=["hello"]
    )
    assert len(embedded.data[0]["embedding"]) > 0


def test_litellms_responses_api_works_unchanged(gateway_url, carol_key, upstream, monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch from GitHub
    import litellm

    expected = upstream_text(upstream, "fake:tokens=8")
    reply = litellm.responses(
        model="openai/fast", api_base=f"{gateway_url}/v1", api_key=carol_key, input="hello"
    )
    assert reply.output[0].content[0].text == expected
    assert reply.usage.output_tokens == 8

    events = litellm.responses(
        model="openai/fast",
        api_base=f"{gateway_url}/v1",
        api_key=carol_key,
        input="hello",
        stream=True,
    )
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == expected


def test_the_agents_sdk_with_its_default_model_works_unchanged(
    gateway_url, carol_key, upstream, gateway_server
):
    """openai-agents' default model is OpenAIResponsesModel: POST /v1/responses."""
    from agents import Agent, OpenAIProvider, RunConfig, Runner, set_tracing_disabled

    set_tracing_disabled(True)  # traces would go to OpenAI
    expected = upstream_text(upstream, "fake:tokens=8")
    config = RunConfig(
        model_provider=OpenAIProvider(
            api_key=carol_key, base_url=f"{gateway_url}/v1", use_responses=True
        )
    )
    agent = Agent(name="concierge", instructions="Answer briefly.", model="fast")

    async def converse():
        answer = await Runner.run(agent, "hello", run_config=config)
        streamed = Runner.run_streamed(agent, "hello again", run_config=config)
        deltas = [
            event.data.delta
            async for event in streamed.stream_events()
            if event.type == "raw_response_event"
            and event.data.type == "response.output_text.delta"
        ]
        return answer.final_output, "".join(deltas), streamed.final_output

    final, streamed_text, streamed_final = run_on_own_loop(converse)

    assert final == expected == streamed_text == streamed_final
    gateway_server.wait_idle()
    assert UsageRecord.objects.filter(endpoint="responses", status="ok").count() == 2
