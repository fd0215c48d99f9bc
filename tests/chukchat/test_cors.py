"""A page on another origin calls the API from the browser: with CHUK_CORS_ALLOWED_ORIGINS set,
its preflight is answered and its responses (streamed ones too) say it may read them. Off by
default. Over real HTTP against the running gateway, as a browser would send the requests."""

import httpx
import pytest

from billing.entitlements import entitlements_changed
from billing.models import Plan

APP = "https://app.example.com"
HELLO = [{"role": "user", "content": "hello"}]
SDK_HEADERS = (
    "authorization, content-type, x-stainless-os, x-stainless-retry-count, openai-organization"
)


@pytest.fixture
def cors_for_app(settings):
    settings.CORS_ALLOWED_ORIGINS = [APP, "http://localhost:5173"]


def preflight(gateway_url, path, *, origin=APP, method="POST", headers=SDK_HEADERS):
    return httpx.options(
        f"{gateway_url}{path}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def listed(value: str | None) -> set[str]:
    return {item.strip().lower() for item in (value or "").split(",") if item.strip()}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/v1/embeddings", "/v1/models"])
def test_a_preflight_from_an_allowed_origin_is_answered_without_credentials(
    gateway_url, cors_for_app, catalogue, path
):
    response = preflight(gateway_url, path)

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    assert {"GET", "POST", "OPTIONS"} <= {
        m.strip() for m in response.headers["access-control-allow-methods"].split(",")
    }
    assert listed(response.headers["access-control-allow-headers"]) == listed(SDK_HEADERS)
    assert int(response.headers["access-control-max-age"]) > 0
    assert "origin" in listed(response.headers["vary"])
    assert "access-control-allow-credentials" not in response.headers


def test_a_preflight_gets_only_the_headers_it_may_send(gateway_url, cors_for_app, catalogue):
    response = preflight(
        gateway_url,
        "/v1/messages",
        headers="x-api-key, anthropic-version, anthropic-beta, x-request-id, x-secret-sauce",
    )
    assert response.status_code == 204
    assert listed(response.headers["access-control-allow-headers"]) == {
        "x-api-key",
        "anthropic-version",
        "anthropic-beta",
        "x-request-id",
    }


def test_a_preflight_from_another_origin_gets_no_permission(gateway_url, cors_for_app, catalogue):
    response = preflight(gateway_url, "/v1/chat/completions", origin="https://evil.example")
    assert response.status_code == 204
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-headers" not in response.headers


def test_any_origin_with_a_star_and_never_credentials(gateway_url, settings, carol_key):
    settings.CORS_ALLOWED_ORIGINS = ["*"]
    response = preflight(gateway_url, "/v1/chat/completions", origin="https://anyone.example")
    assert response.headers["access-control-allow-origin"] == "*"
    actual = httpx.get(
        f"{gateway_url}/v1/models",
        headers={"Origin": "https://anyone.example", "Authorization": f"Bearer {carol_key}"},
    )
    assert actual.status_code == 200
    assert actual.headers["access-control-allow-origin"] == "*"
    for answer in (response, actual):
        assert "access-control-allow-credentials" not in answer.headers


def test_a_chat_answer_lets_the_page_read_its_ids_cost_and_rate_limits(
    gateway_url, cors_for_app, carol_key, settings
):
    settings.RATE_LIMITS_ENABLED = True
    Plan.objects.update_or_create(
        slug="free", defaults={"name": "Free", "chat_requests_per_minute": 20}
    )
    entitlements_changed()
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        headers={"Origin": APP, "Authorization": f"Bearer {carol_key}"},
        json={"model": "fast", "messages": HELLO},
        timeout=30,
    )

    assert response.status_code == 200 and response.json()["choices"]
    assert response.headers["access-control-allow-origin"] == APP
    exposed = listed(response.headers["access-control-expose-headers"])
    assert {"x-request-id", "x-chuk-cost"} <= exposed
    assert any(name.startswith("x-ratelimit-") for name in exposed)
    assert all(name in response.headers for name in exposed)
    assert "access-control-allow-credentials" not in response.headers


def test_a_streamed_answer_carries_the_headers_too(gateway_url, cors_for_app, carol_key):
    with httpx.stream(
        "POST",
        f"{gateway_url}/v1/chat/completions",
        headers={"Origin": APP, "Authorization": f"Bearer {carol_key}"},
        json={"model": "fast", "messages": HELLO, "stream": True},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["access-control-allow-origin"] == APP
        assert "x-request-id" in listed(response.headers["access-control-expose-headers"])
        body = response.read().decode()
    assert body.rstrip().endswith("data: [DONE]")


def test_an_error_is_readable_by_the_page_on_both_request_paths(
    gateway_url, cors_for_app, catalogue
):
    # No key at all: Django's full stack (and the request gate) answers; a bad key: the lean path.
    no_key = httpx.get(f"{gateway_url}/v1/models", headers={"Origin": APP})
    bad_key = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        headers={"Origin": APP, "Authorization": "Bearer sk-chuk-nope"},
        json={"model": "fast", "messages": HELLO},
    )
    for response in (no_key, bad_key):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert response.headers["access-control-allow-origin"] == APP


def test_a_request_from_another_origin_gets_no_cors_headers(gateway_url, cors_for_app, carol_key):
    response = httpx.get(
        f"{gateway_url}/v1/models",
        headers={"Origin": "https://evil.example", "Authorization": f"Bearer {carol_key}"},
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_pages_of_the_web_app_get_no_cors_headers(gateway_url, cors_for_app):
    response = httpx.get(f"{gateway_url}/health/live", headers={"Origin": APP})
    assert "access-control-allow-origin" not in response.headers


def test_cors_is_off_by_default(gateway_url, carol_key):
    asked = preflight(gateway_url, "/v1/chat/completions")
    actual = httpx.get(
        f"{gateway_url}/v1/models",
        headers={"Origin": APP, "Authorization": f"Bearer {carol_key}"},
    )
    assert actual.status_code == 200
    for response in (asked, actual):
        assert not any(name.startswith("access-control-") for name in response.headers)
