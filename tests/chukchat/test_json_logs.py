"""CHUK_LOG_FORMAT=json: a server process writes one JSON object per line, and the line of a
request names it (the client's X-Request-Id, echoed back), who asked and what answered. The
charge stays keyed by our own id, so a client repeating its id is still charged each time."""

import signal
import time

import httpx
import orjson
import pytest

from billing.models import UsageRecord

HELLO = [{"role": "user", "content": "hello"}]


def chat(server, key: str, **headers) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "fast", "messages": HELLO},
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=30,
    )


def stopped_lines(server) -> list[str]:
    """The process's stderr, once it has stopped (so every line it wrote is there)."""
    server.kill(signal.SIGTERM)
    server.wait(timeout=40)
    return [line for line in server.stderr.splitlines() if line.strip()]


def request_line(records: list[dict], request_id: str) -> dict:
    lines = [
        r for r in records if r["logger"] == "chukchat.request" and r["request_id"] == request_id
    ]
    assert len(lines) == 1, records
    return lines[0]


def test_every_line_is_json_and_the_requests_line_names_it(server_process, carol, carol_key):
    server = server_process(env={"CHUK_LOG_FORMAT": "json"})

    reply = chat(server, carol_key, **{"X-Request-Id": "trace-7f3a.b:2"})

    assert reply.status_code == 200
    assert reply.headers["x-request-id"] == "trace-7f3a.b:2"
    usage_id = reply.headers["x-chuk-usage-id"]
    deadline = time.monotonic() + 5
    while not UsageRecord.objects.filter(request_id=usage_id).exists():
        assert time.monotonic() < deadline, "the call was not settled"
        time.sleep(0.05)
    records = [orjson.loads(line) for line in stopped_lines(server)]  # each one parses
    assert any("Started server process" in r["message"] for r in records)  # uvicorn's own
    line = request_line(records, "trace-7f3a.b:2")
    assert line["level"] == "INFO" and line["timestamp"].endswith("+00:00")
    assert line["user_id"] == carol.pk
    assert carol_key.startswith(line["key_prefix"]) and len(line["key_prefix"]) < len(carol_key)
    assert line["model"] == "fast" and line["provider"] == "fake"
    assert line["status"] == 200 and line["latency_ms"] > 0
    assert line["usage_id"] == usage_id
    assert carol_key not in "\n".join(server.stderr.splitlines())


def test_a_repeated_client_id_is_echoed_and_charged_each_time(server_process, carol, carol_key):
    server = server_process(env={"CHUK_LOG_FORMAT": "json"})

    replies = [chat(server, carol_key, **{"X-Request-Id": "retry-1"}) for _ in range(2)]

    assert [r.headers["x-request-id"] for r in replies] == ["retry-1", "retry-1"]
    usage_ids = {r.headers["x-chuk-usage-id"] for r in replies}
    assert len(usage_ids) == 2
    deadline = time.monotonic() + 5
    while UsageRecord.objects.filter(request_id__in=usage_ids, cost__gt=0).count() < 2:
        assert time.monotonic() < deadline, "both calls were not charged"
        time.sleep(0.05)


def test_a_malformed_client_id_is_replaced_by_the_usage_id(server_process, carol_key):
    server = server_process(env={"CHUK_LOG_FORMAT": "json"})
    malformed = ["has spaces", "x" * 129, "semi;colon", ""]

    replies = [chat(server, carol_key, **{"X-Request-Id": sent}) for sent in malformed]

    assert [r.status_code for r in replies] == [200] * len(malformed)
    echoed = [r.headers["x-request-id"] for r in replies]
    assert not set(echoed) & set(malformed) and len(set(echoed)) == len(malformed)
    assert not any("x-chuk-usage-id" in r.headers for r in replies)
    records = [orjson.loads(line) for line in stopped_lines(server)]
    assert all(request_line(records, request_id)["status"] == 200 for request_id in echoed)


def test_a_request_without_a_chat_gets_an_id_of_its_own(server_process):
    server = server_process(env={"CHUK_LOG_FORMAT": "json"})

    reply = httpx.get(f"{server.url}/health/live")

    echoed = reply.headers["x-request-id"]
    assert len(echoed) == 32
    assert request_line([orjson.loads(line) for line in stopped_lines(server)], echoed)


def test_without_the_setting_the_lines_stay_human_readable(server_process):
    server = server_process()
    first = stopped_lines(server)[0]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(first)
