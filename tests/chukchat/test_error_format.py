"""Bad requests get the JSON error format with the right status: never HTML, never a 500."""

import pytest

pytestmark = pytest.mark.django_db


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["type"]


@pytest.mark.parametrize("path", ["/v1/nope", "/api/v1/nope", "/api/whatever/else", "/v1/"])
def test_unknown_api_routes_are_json_404s(client, path, bearer):
    assert_error(client.get(path, **bearer), 404, "not_found")


def test_wrong_method_is_a_json_405(client, bearer):
    assert_error(client.delete("/v1/health"), 405, "method_not_allowed")


def test_a_body_that_is_not_json_is_invalid_json(client, bearer):
    from django.test import override_settings

    from tests.chukchat.echo_views import urlpatterns  # noqa: F401

    with override_settings(ROOT_URLCONF="tests.chukchat.echo_views"):
        response = client.post(
            "/v1/echo", data="{not json", content_type="application/json", **bearer
        )
        assert_error(response, 400, "invalid_json")


def test_a_wrong_content_type_is_415(client, bearer):
    from django.test import override_settings

    with override_settings(ROOT_URLCONF="tests.chukchat.echo_views"):
        response = client.post("/v1/echo", data="a=b", content_type="text/plain", **bearer)
        assert_error(response, 415, "unsupported_media_type")


def test_an_oversized_body_is_413(client, bearer, settings):
    from django.test import override_settings

    settings.API_MAX_BODY_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    with override_settings(ROOT_URLCONF="tests.chukchat.echo_views"):
        response = client.post(
            "/v1/echo",
            data='{"x": "' + "a" * 5000 + '"}',
            content_type="application/json",
            **bearer,
        )
        assert_error(response, 413, "payload_too_large")


def test_a_json_array_body_is_refused(client, bearer):
    from django.test import override_settings

    with override_settings(ROOT_URLCONF="tests.chukchat.echo_views"):
        response = client.post("/v1/echo", data="[1, 2]", content_type="application/json", **bearer)
        assert_error(response, 400, "invalid_json")


def test_a_crash_in_an_api_view_is_a_json_500(client, bearer):
    from django.test import override_settings

    client.raise_request_exception = False
    with override_settings(ROOT_URLCONF="tests.chukchat.echo_views"):
        assert_error(client.get("/v1/crash", **bearer), 500, "internal_error")


def test_pages_outside_the_api_keep_html_errors(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_every_error_names_its_param_null_when_no_parameter_is_at_fault(client, bearer):
    # OpenAI's Error object requires `param`; the fuzzer's DELETE /v1/responses/0 got a 404
    # without it, which OpenAI's spec (and a strict client) refuses.
    error = client.get("/v1/nope", **bearer).json()["error"]
    assert error == {
        "message": "No route for GET /v1/nope.",
        "type": "invalid_request_error",
        "param": None,
        "code": "not_found",
    }
    error = client.get("/v1/user/usage?offset=-1", **bearer).json()["error"]
    assert (error["code"], error["param"]) == ("invalid_request", "offset")
