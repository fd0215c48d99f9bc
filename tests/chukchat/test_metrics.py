"""GET /metrics: Prometheus text for the scraper with CHUK_METRICS_TOKEN, nothing for anyone else.
What a chat call through the official SDK did shows up in it: the request, its tokens and
spend, the provider that failed and the fallback that answered instead."""

import time

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-scraper-token"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(url: str, token: str = TOKEN) -> dict[tuple[str, frozenset], float]:
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before, after, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def settled(after_scrape, gateway_url, name, count, **labels):
    """Settlement runs just after the response: wait for its counters."""
    deadline = time.monotonic() + 5
    while True:
        now = scrape(gateway_url)
        if grew(after_scrape, now, name, **labels) >= count or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def test_a_chat_call_shows_up_in_the_metrics(sdk, gateway_url, metrics_token):
    before = scrape(gateway_url)

    reply = sdk.chat.completions.create(model="fast", messages=HELLO)

    after = settled(
        before,
        gateway_url,
        "chuk_usage_requests_total",
        1,
        endpoint="chat.completions",
        model="fast",
        provider="fake",
        status="ok",
    )
    usage = reply.usage
    by_model = {"model": "fast", "provider": "fake"}
    assert grew(before, after, "chuk_tokens_total", direction="in", **by_model) == (
        usage.prompt_tokens
    )
    assert grew(before, after, "chuk_tokens_total", direction="out", **by_model) == (
        usage.completion_tokens
    )
    # fast costs $1 / $2 per million tokens in / out.
    spend = grew(before, after, "chuk_spend_usd_total", **by_model)
    assert spend == pytest.approx(
        (usage.prompt_tokens * 1 + usage.completion_tokens * 2) / 1_000_000
    )
    assert grew(before, after, "chuk_usage_latency_seconds_count", **by_model) == 1
    assert (
        grew(
            before,
            after,
            "chuk_http_requests_total",
            route="v1/chat/completions",
            method="POST",
            status="200",
        )
        == 1
    )


def test_a_streamed_answer_records_its_time_to_first_token(sdk, gateway_url, metrics_token):
    before = scrape(gateway_url)

    chunks = list(
        sdk.chat.completions.create(
            model="fast", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )

    assert chunks
    after = settled(
        before,
        gateway_url,
        "chuk_time_to_first_token_seconds_count",
        1,
        model="fast",
        provider="fake",
    )
    assert (
        grew(before, after, "chuk_time_to_first_token_seconds_count", model="fast", provider="fake")
        == 1
    )
    # The stream has ended: it is no longer counted as open.
    assert value(after, "chuk_open_streams") == 0


def test_a_failing_provider_and_its_fallback_are_counted(sdk, gateway_url, metrics_token):
    before = scrape(gateway_url)

    reply = sdk.chat.completions.create(model="flaky", messages=HELLO)

    assert reply.choices[0].message.content
    after = settled(before, gateway_url, "chuk_fallbacks_total", 1, model="flaky", fallback="fast")
    assert grew(before, after, "chuk_fallbacks_total", model="flaky", fallback="fast") == 1
    assert (
        grew(
            before,
            after,
            "chuk_provider_errors_total",
            provider="fake",
            model="flaky",
            kind="error",
        )
        == 1
    )


def test_without_the_setting_there_is_no_metrics_route(gateway_url, settings):
    settings.METRICS_TOKEN = ""
    response = httpx.get(f"{gateway_url}/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_metrics_need_the_token(gateway_url, metrics_token, carol_key):
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {carol_key}"},
    ):
        response = httpx.get(f"{gateway_url}/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "invalid_token"
        assert "chuk_" not in response.text


def test_the_settlement_outbox_depth_is_measured_at_the_scrape(gateway_url, metrics_token):
    samples = scrape(gateway_url)
    assert ("chuk_settlement_outbox_entries", frozenset()) in samples


def test_several_processes_are_summed(server_process, carol_key, tmp_path):
    # Two server processes writing to one multiprocess directory, as `make serve`'s workers do.
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "CHUK_METRICS_TOKEN": TOKEN}
    first, second = server_process(env=env), server_process(env=env)
    before = scrape(second.url)

    for server in (first, first, second):
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=carol_key, max_retries=0)
        client.chat.completions.create(model="fast", messages=HELLO)

    labels = {"endpoint": "chat.completions", "model": "fast", "provider": "fake", "status": "ok"}
    after = settled(before, second.url, "chuk_usage_requests_total", 3, **labels)
    assert grew(before, after, "chuk_usage_requests_total", **labels) == 3
    # The same sum, whichever process is asked.
    assert value(scrape(first.url), "chuk_usage_requests_total", **labels) == value(
        after, "chuk_usage_requests_total", **labels
    )


def test_the_grafana_dashboard_charts_only_metrics_that_exist():
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    dashboard = json.loads((root / "deploy" / "grafana" / "chukchat.json").read_text())
    defined = (root / "chukchat" / "metrics.py").read_text()
    charted = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"chuk_[a-z_]+", target["expr"])
    }
    assert len(dashboard["panels"]) >= 10
    assert charted and all(f'"{name}"' in defined for name in charted), charted
