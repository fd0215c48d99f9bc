"""Fuzzing the live API with schemathesis: every operation of our published schema, and the
operations of OpenAI's own spec (../shared/openai-openapi.yaml) that we serve, get generated
requests that fit the schema (positive) and requests that do not (negative). The bar: no 5xx,
ever, and every response fits the schema of its operation.

Requests are made by a real user with credit and a real API key (or, where an operation takes
the session only, a signed-in browser session), so they reach the handlers; positive cases
name a model the fake upstream serves. Examples per operation are bounded so the whole run
fits the CI budget; CHUK_FUZZ_EXAMPLES raises them for a deeper run by hand, and
CHUK_FUZZ_SEED picks another deterministic sequence (the default always sends the same)."""

import contextlib
import os
import random
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import schemathesis
import yaml
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from chukchat.openapi_schema import openapi_document
from tests.factories import UserFactory
from tests.support.stripe_standin import STRIPE_KEY

OPENAI_SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "openai-openapi.yaml"
EXAMPLES = int(os.environ.get("CHUK_FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("CHUK_FUZZ_SEED", "13"))
CHECKS = [not_a_server_error, response_schema_conformance]

# What a positive case names as its model, by operation: one the fake upstream serves.
CHAT_MODELS = ["fast", "plain", "claude", "thinker", "toolsy"]
MODELS_BY_PATH = {
    "/chat/completions": CHAT_MODELS,
    "/ai/chat": CHAT_MODELS,
    "/ai/chat/stream": CHAT_MODELS,
    "/completions": CHAT_MODELS,
    "/responses": CHAT_MODELS,
    "/v1/presets": CHAT_MODELS,
    "/v1/presets/{preset_id}": CHAT_MODELS,
    "/embeddings": ["emb"],
    "/images/generations": ["demo-image"],
    "/media/images": ["demo-image"],
}
# OpenAI's operations and the route of ours that serves each; fuzzed where the route exists.
OPENAI_OPERATIONS = {
    "listModels": "/v1/models",
    "retrieveModel": "/v1/models/fast",
    "createChatCompletion": "/v1/chat/completions",
    "createEmbedding": "/v1/embeddings",
    "createCompletion": "/v1/completions",
    "createResponse": "/v1/responses",
    "getResponse": "/v1/responses/resp_1",
    "deleteResponse": "/v1/responses/resp_1",
    "listInputItems": "/v1/responses/resp_1/input_items",
}
# Fuzzed as a user of its own: were the password ever guessed, the run would keep its users.
OWN_USER = {("POST", "/v1/user/delete")}


def openai_spec() -> dict:
    """OpenAI's spec, less the places where it does not describe OpenAI's own API: with
    `encoding_format: "base64"` an embedding is a base64 string, not an array (the official
    SDK asks for base64 by default and decodes it); and a few error responses (a deleted
    response's 404) are given as the bare `Error` object, where the API (and the SDK, which
    reads `body["error"]`) has it wrapped: `{"error": {...}}`, the spec's `ErrorResponse`."""
    spec = yaml.load(OPENAI_SPEC.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    properties = spec["components"]["schemas"]["Embedding"]["properties"]
    properties["embedding"] = {"anyOf": [properties["embedding"], {"type": "string"}]}
    bare, wrapped = "#/components/schemas/Error", "#/components/schemas/ErrorResponse"
    for item in spec["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                media = (response.get("content") or {}).get("application/json") or {}
                if media.get("schema") == {"$ref": bare}:
                    media["schema"] = {"$ref": wrapped}
    return spec


@dataclass
class Tally:
    requests: int = 0
    by_status: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)

    def add(self, response) -> None:
        self.requests += 1
        self.by_status[response.status_code] = self.by_status.get(response.status_code, 0) + 1

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.by_status.items() if status >= 500)


def session_cookie(user) -> dict:
    """A signed-in browser session for `user`, with the CSRF pair a browser would send."""
    from importlib import import_module

    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return {django_settings.SESSION_COOKIE_NAME: store.session_key}


def served(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.route != "" and "rest" not in match.kwargs  # not the JSON 404 catch-all


def name_a_served_model(case, mode: GenerationMode, prefix: str, rng: random.Random) -> None:
    if not mode.is_positive:
        return
    path = case.operation.path.removeprefix(prefix)
    if path.startswith("/models/"):
        case.path_parameters = {
            name: rng.choice([*CHAT_MODELS, "emb"]) for name in case.path_parameters
        }
    models = MODELS_BY_PATH.get(path)
    if models and isinstance(case.body, dict) and "model" in case.body:
        case.body["model"] = rng.choice(models)


def fuzz(schema, *, base_url: str, prefix: str, credentials, tally: Tally) -> None:
    rng = random.Random(SEED)
    http = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        headers, cookies = credentials(operation, prefix)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            def send(case, mode=mode, headers=headers, cookies=cookies):
                name_a_served_model(case, mode, prefix, rng)
                http.cookies.clear()  # only the case's own cookies: none kept from the last
                response = case.call(
                    base_url=base_url,
                    session=http,
                    headers=headers,
                    cookies=cookies,
                    timeout=30,
                    allow_redirects=False,
                )
                tally.add(response)
                try:
                    case.validate_response(response, checks=CHECKS)
                except FailureGroup as failures:
                    for failure in failures.exceptions:
                        tally.failures.append(
                            f"{case.method} {prefix}{case.operation.path} ({mode}): "
                            f"{failure.title}: {failure.message[:600]}\n  "
                            f"{case.as_curl_command()[:1500]}"
                        )

            began = time.monotonic()
            examples(operation.as_strategy(generation_mode=mode), send)
            tally.seconds[f"{operation.method.upper()} {operation.path} {mode}"] = (
                time.monotonic() - began
            )


def examples(strategy, send) -> None:
    """Sends EXAMPLES cases drawn from `strategy`. Failures are collected, not raised, so
    Hypothesis never spends the budget shrinking them."""

    @seed(SEED)
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        send(case)

    # Unsatisfiable: nothing to make invalid (an operation without parameters or body).
    with contextlib.suppress(Unsatisfiable):
        run()


@pytest.fixture
def stripe_configured(settings, stripe_standin):
    """Billing talks to the Stripe stand-in (unconfigured, checkout and sync are a 503
    billing_not_configured by design)."""
    settings.STRIPE_SECRET_KEY = STRIPE_KEY
    settings.STRIPE_API_BASE = stripe_standin.url
    settings.STRIPE_PRICE_IDS = {}
    settings.STRIPE_CHECKOUT_SUCCESS_URL = (
        "https://chuk.example/billing?session_id={CHECKOUT_SESSION_ID}"
    )
    settings.STRIPE_CHECKOUT_CANCEL_URL = "https://chuk.example/billing?checkout=cancelled"
    settings.STRIPE_PORTAL_RETURN_URL = "https://chuk.example/billing"


@pytest.fixture
def fuzzer_credentials(carol, carol_key, stripe_configured):
    """carol's API key (she has credit); for the session-only operations, a signed-in session
    of dave's (so that revoking a key by a guessed id can never revoke carol's), with a CSRF
    token he could have been given; erin's session for deleting an account."""
    csrf = secrets.token_hex(16)
    sessions = {
        person: {**session_cookie(UserFactory(email=email)), django_settings.CSRF_COOKIE_NAME: csrf}
        for person, email in (("dave", "dave@example.com"), ("erin", "erin@example.com"))
    }

    def credentials(operation, prefix: str):
        security = operation.definition.raw.get("security")
        # OpenAI's spec names no security per operation: a bearer key for all of them.
        schemes = {"bearerAuth"} if security is None else {n for entry in security for n in entry}
        if "bearerAuth" in schemes:
            return {"Authorization": f"Bearer {carol_key}"}, {}
        if "cookieAuth" in schemes:
            own = (operation.method.upper(), prefix + operation.path) in OWN_USER
            return {"X-CSRFToken": csrf}, sessions["erin" if own else "dave"]
        return {}, {}

    return credentials


def report(name: str, tally: Tally, started: float) -> str:
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(tally.by_status.items()))
    slowest = sorted(tally.seconds.items(), key=lambda item: -item[1])[:5]
    slow = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest)
    return (
        f"\nfuzz {name}: {tally.requests} requests, {tally.server_errors} server errors, "
        f"{len(tally.failures)} failed checks in {time.monotonic() - started:.1f} s "
        f"({EXAMPLES} examples per operation and mode; statuses {statuses}; slowest: {slow})"
    )


@pytest.mark.timeout(600)
def test_our_schema_under_fuzzing_has_no_server_error_and_every_response_fits(
    gateway_url, catalogue, fuzzer_credentials, capsys
):
    started = time.monotonic()
    tally = Tally()
    schema = schemathesis.openapi.from_dict(openapi_document())
    fuzz(schema, base_url=gateway_url, prefix="", credentials=fuzzer_credentials, tally=tally)
    with capsys.disabled():  # shown in `make test`'s output, passed or failed
        print(report("our schema", tally, started))
    assert tally.requests > 0
    assert not tally.failures, "\n".join(tally.failures[:30])


@pytest.mark.timeout(600)
def test_openais_spec_for_what_we_serve_has_no_server_error_and_every_response_fits(
    gateway_url, catalogue, fuzzer_credentials, capsys
):
    if not OPENAI_SPEC.exists():
        pytest.skip(f"OpenAI's spec is not beside the checkout ({OPENAI_SPEC})")
    started = time.monotonic()
    wanted = [op for op, route in OPENAI_OPERATIONS.items() if served(route)]
    schema = schemathesis.openapi.from_dict(openai_spec()).include(operation_id=wanted)
    tally = Tally()
    fuzz(
        schema,
        base_url=f"{gateway_url}/v1",
        prefix="/v1",
        credentials=fuzzer_credentials,
        tally=tally,
    )
    with capsys.disabled():
        print(report(f"OpenAI's spec ({', '.join(wanted)})", tally, started))
    assert tally.requests > 0
    assert not tally.failures, "\n".join(tally.failures[:30])


def test_the_fuzzer_reaches_the_handlers_with_a_key_that_has_credit(
    gateway_url, catalogue, carol_key
):
    """Not a fuzz: the premise of one. carol's key answers a chat with the fake model."""
    response = requests.post(
        f"{gateway_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {carol_key}"},
        json={"model": "fast", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"]


def test_the_session_reaches_session_only_operations(gateway_url, catalogue, carol):
    response = requests.get(f"{gateway_url}/v1/user/keys", cookies=session_cookie(carol))
    assert response.status_code == 200
    assert response.json()["object"] == "list"
