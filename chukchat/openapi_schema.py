"""The OpenAPI 3.1 document of the whole HTTP API, served at GET /v1/openapi.json.

Two sources, merged into one document:
- the DRF views (user, billing, conversations): drf-spectacular reads their routes, methods,
  path parameters, request serializers (the nested `InputSerializer`-style classes each view
  declares) and query serializers (`FilterSerializer`) from the code;
- the async views (OpenAI-compatible, Chuk chat, media, health), which are plain Django
  functions that drf-spectacular cannot see, and the DRF views' response bodies (they render
  dicts, not output serializers): described by hand in chukchat/openapi_paths.yaml.

The OpenAI-compatible routes are also served under /api/v1/; the document names /v1/ only."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import yaml
from django.urls import get_resolver
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.settings import patched_settings
from rest_framework import serializers

from accounts.session_only import SessionOnly

HAND_WRITTEN = Path(__file__).with_name("openapi_paths.yaml")
# An app may describe its own routes in a file of its own, merged into the one above.
APP_HAND_WRITTEN = [Path(__file__).resolve().parents[1] / "sharing" / "openapi_paths.yaml"]
API_PREFIX = "/v1/"

DESCRIPTION = """\
Chuk Chat's HTTP API: the OpenAI-compatible endpoints (also served under `/api/v1/`), the Chuk
chat API, the user's account, billing, media jobs and saved conversations.

**Authentication.** Developers send an API key as `Authorization: Bearer <key>` or
`x-api-key: <key>` (create keys in the web app). The web app itself uses its session cookie (with Django's CSRF token on unsafe
methods); account actions, key management, checkout and the billing portal take the session
only (an API key gets 403 `session_required`).

**Errors** are always JSON: `{"error": {"message", "type", "code"}}` with the HTTP status
(400 invalid input, 401 invalid_api_key, 402 insufficient_credits, 404, 413, 429 with
Retry-After, 502 provider_error, 504 provider_timeout). Anthropic's Messages API
(`/v1/messages`) answers in Anthropic's own error shape instead.
"""

SPECTACULAR = {
    "OAS_VERSION": "3.1.0",
    "TITLE": "Chuk Chat API",
    "VERSION": "1",
    "DESCRIPTION": DESCRIPTION,
    "COMPONENT_SPLIT_REQUEST": True,
    "DISABLE_ERRORS_AND_WARNINGS": True,
}

# Views whose query serializer is not nested in the view itself.
QUERY_SERIALIZERS = {
    "UsageApi": "accounts.api.UsageFilterSerializer",
    "UsageCsvApi": "accounts.api.UsageFilterSerializer",
}
BODY_METHODS = {"POST", "PUT", "PATCH"}
TAGS = {
    "accounts": "user",
    "billing": "billing",
    "aiapi": "conversations",
    "sharing": "conversations",
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer <key>`.",
        }


def _nested_serializers(view_class) -> dict[str, type[serializers.Serializer]]:
    return {
        name: value
        for name, value in vars(view_class).items()
        if isinstance(value, type) and issubclass(value, serializers.BaseSerializer)
    }


class ChukAutoSchema(AutoSchema):
    """Reads the team's view convention: a body serializer nested in the view (InputSerializer,
    CreateSerializer, RenameSerializer, UpdateSerializer) and a query one (FilterSerializer)."""

    def get_request_serializer(self):
        if self.method not in BODY_METHODS:
            return None
        nested = _nested_serializers(type(self.view))
        nested.pop("FilterSerializer", None)
        return next(iter(nested.values()), None)

    def get_override_parameters(self):
        if self.method != "GET":
            return []
        view_class = type(self.view)
        query = _nested_serializers(view_class).get("FilterSerializer")
        if query is None and view_class.__name__ in QUERY_SERIALIZERS:
            from django.utils.module_loading import import_string

            query = import_string(QUERY_SERIALIZERS[view_class.__name__])
        return [query] if query is not None else []

    def get_description(self):
        view_class = type(self.view)
        action = getattr(view_class, self.method.lower(), None)
        text = (action.__doc__ if action else None) or vars(view_class).get("__doc__") or ""
        parts = [" ".join(text.split())] if text.strip() else []
        if issubclass(view_class, SessionOnly):
            parts.append("Web app session only: an API key gets 403 `session_required`.")
        return "\n\n".join(parts)

    def get_auth(self):
        if issubclass(type(self.view), SessionOnly):
            return [{"cookieAuth": []}]
        return super().get_auth()

    def get_tags(self):
        return [TAGS.get(type(self.view).__module__.split(".")[0], "other")]

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        # Every view calls its body serializer InputSerializer or the like: name the component
        # after the view, or they would collide. A serializer used as a field inside it
        # (a list's items) is named after its own class.
        serializer_class = serializer if isinstance(serializer, type) else type(serializer)
        if serializer_class not in _nested_serializers(type(self.view)).values():
            return serializer_class.__name__.removesuffix("Serializer")
        return type(self.view).__name__.removesuffix("Api") + "Request"

    def get_operation_id(self):
        # "get /v1/user/keys" -> "user_keys_list"; drf-spectacular's own ids carry the "v1_".
        operation_id = super().get_operation_id()
        return operation_id.removeprefix("v1_")

    def _get_response_bodies(self, direction="response"):
        # Replaced by the hand-written responses when the document is assembled.
        return {}


class ChukSchemaGenerator(SchemaGenerator):
    def create_view(self, callback, method, request=None):
        view = super().create_view(callback, method, request)
        self._set_schema_to_view(view, ChukAutoSchema())
        return view


def _generated() -> dict:
    with patched_settings(SPECTACULAR):
        document = ChukSchemaGenerator(patterns=get_resolver().url_patterns).get_schema(
            request=None, public=True
        )
    document["paths"] = {
        path: item for path, item in document["paths"].items() if path.startswith(API_PREFIX)
    }
    return document


def _hand_written() -> dict:
    hand = yaml.safe_load(HAND_WRITTEN.read_text())
    for extra in APP_HAND_WRITTEN:
        for section, entries in (yaml.safe_load(extra.read_text()) or {}).items():
            if section == "components":
                for kind, items in entries.items():
                    hand["components"].setdefault(kind, {}).update(items)
            else:
                hand.setdefault(section, {}).update(entries)
    return hand


def _unauthenticated(operation: dict) -> bool:
    """drf-spectacular writes `security: [{}]` for a view without authentication classes;
    3.1 says the same with an empty list."""
    return operation.get("security") in ([{}], [])


def openapi_document() -> dict:
    return _build()[0]


def schema_gaps() -> list[str]:
    """What the hand-written part misses or contradicts (tests/chukchat/test_openapi_schema.py
    asserts there is none). The document is served all the same: a gap is a test failure,
    never a 500 on /v1/openapi.json."""
    return _build()[1]


@cache
def _build() -> tuple[dict, list[str]]:
    document = _generated()
    hand = _hand_written()
    responses = hand["drf_responses"]
    gaps = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            key = f"{method.upper()} {path}"
            if key in responses:
                operation["responses"] = copy.deepcopy(responses[key])
            else:
                gaps.append(f"no responses in {HAND_WRITTEN.name} drf_responses for {key}")
                operation["responses"] = {"200": {"description": "Success."}}
            if _unauthenticated(operation):
                operation["security"] = []
    for path, item in hand["paths"].items():
        if path in document["paths"]:
            gaps.append(f"{path} is generated from a DRF view: describe only its responses")
            continue
        document["paths"][path] = item
    document["paths"] = dict(sorted(document["paths"].items()))

    components = document.setdefault("components", {})
    for section, entries in hand["components"].items():
        components.setdefault(section, {}).update(entries)
    for item in document["paths"].values():
        for method, operation in item.items():
            if method != "parameters":
                operation["responses"].setdefault(
                    "default", {"$ref": "#/components/responses/Error"}
                )
    document["servers"] = [{"url": "/", "description": "This server"}]
    return document, gaps
