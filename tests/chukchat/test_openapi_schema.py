"""The published schema (GET /v1/openapi.json) describes exactly the API we serve, and /docs
renders it from vendored files only."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from openapi_spec_validator import validate

from chukchat.openapi_schema import HAND_WRITTEN, openapi_document, schema_gaps

CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def served_routes(patterns=None, prefix: str = "") -> set[str]:
    """Every route path the URL resolver serves, in OpenAPI's `{param}` spelling. Regex routes
    (the JSON 404 for unknown API paths) are catch-alls, not endpoints."""
    routes = set()
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            routes |= served_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            routes.add("/" + CONVERTER.sub(r"{\1}", route))
    return routes


def api_routes() -> set[str]:
    return {route for route in served_routes() if route.startswith("/v1/")}


def test_every_v1_route_is_documented():
    undocumented = api_routes() - set(openapi_document()["paths"])
    assert not undocumented, (
        f"routes missing from the schema: {sorted(undocumented)}; describe async views in "
        f"{HAND_WRITTEN.name} (DRF views are generated, but their responses go there too)"
    )


def test_every_drf_operation_has_its_responses_described_by_hand():
    assert schema_gaps() == []


def test_nothing_is_documented_that_is_not_served():
    assert not set(openapi_document()["paths"]) - api_routes()


def test_the_openai_compatible_routes_are_served_under_api_v1_as_well():
    routes = served_routes()
    for path in ("/v1/models", "/v1/chat/completions", "/v1/embeddings"):
        assert path in openapi_document()["paths"]
        assert "/api" + path in routes


def test_the_document_is_valid_openapi_3_1():
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_operation_has_an_id_a_success_response_and_the_error_format():
    seen = set()
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            assert operation["operationId"] not in seen, f"{method} {path}: duplicate id"
            seen.add(operation["operationId"])
            statuses = set(operation["responses"])
            assert any(s.startswith("2") for s in statuses), f"{method} {path}: no 2xx"
            # Anthropic's Messages API answers in Anthropic's error shape.
            error = "AnthropicError" if path.startswith("/v1/messages") else "Error"
            assert operation["responses"]["default"] == {"$ref": f"#/components/responses/{error}"}


def test_api_keys_use_the_bearer_scheme_and_account_actions_take_the_session_only():
    document = openapi_document()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer <key>`.",
    }
    assert schemes["cookieAuth"]["in"] == "cookie"
    paths = document["paths"]
    assert paths["/v1/chat/completions"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths["/v1/user/keys"]["post"]["security"] == [{"cookieAuth": []}]
    assert paths["/v1/billing/portal"]["post"]["security"] == [{"cookieAuth": []}]
    assert paths["/v1/billing/plans"]["get"]["security"] == []


def test_drf_request_bodies_and_query_parameters_come_from_the_views_serializers():
    document = openapi_document()
    create = document["paths"]["/v1/user/keys"]["post"]["requestBody"]["content"]
    body = create["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert document["components"]["schemas"][body]["required"] == ["name"]
    usage = document["paths"]["/v1/user/usage"]["get"]["parameters"]
    assert {p["name"] for p in usage} == {"start", "end", "model", "key", "limit", "offset"}
    offset = next(p for p in usage if p["name"] == "offset")
    assert offset["schema"]["maximum"] == 1_000_000_000


@pytest.mark.django_db
def test_the_schema_is_served_as_json_to_anyone(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["info"]["title"] == "Chuk Chat API"


@pytest.mark.django_db
def test_the_docs_page_renders_the_schema_with_vendored_scripts_and_no_inline_script(client):
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert [body.strip() for _, body in scripts] == ["", ""]
    sources = [re.search(r'src="([^"]+)"', attributes).group(1) for attributes, _ in scripts]
    assert sources == ["/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/app/docs.js"]
    assert 'data-schema-url="/v1/openapi.json"' in html
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "nothing from a CDN"
