"""One error format for every API response: {"error": {"message", "type", "code"}}.

Views raise `ApiError`; the middleware and DRF's exception handler render it. Anything under the
API prefixes that would otherwise be an HTML page (unknown route, wrong method, a crash) is turned
into the same JSON shape with the right status.
"""

from __future__ import annotations

import logging

import orjson
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions as drf_exceptions

logger = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/api/")

# The OpenAI-style "type" for each status when the caller does not name one.
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "api_error",
    503: "api_error",
    504: "api_error",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.type = type or _TYPE_BY_STATUS.get(status, "invalid_request_error")
        self.param = param
        self.headers = headers or {}

    def payload(self) -> dict:
        # `param` always, null when no parameter is at fault: OpenAI's Error object requires it.
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> HttpResponse:
        response = json_response(self.payload(), status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


DATABASE_RETRY_AFTER_SECONDS = 2


def database_unavailable() -> ApiError:
    return ApiError(
        503,
        "service_unavailable",
        "The service is briefly unavailable. Try again in a moment.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def json_response(data, *, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str, **kwargs) -> HttpResponse:
    return ApiError(status, code, message, **kwargs).response()


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path == "/health"


_STATUS_DEFAULTS = {
    400: ("invalid_request", "The request could not be understood."),
    403: ("forbidden", "You are not allowed to do that."),
    404: ("not_found", "No such route."),
    405: ("method_not_allowed", "That method is not allowed on this route."),
    413: ("payload_too_large", "The request body is too large."),
    500: ("internal_error", "Something went wrong on our side."),
}


class ApiErrorMiddleware:
    """Keeps HTML out of API responses: errors raised or returned under the API prefixes become
    the JSON error format. Works for sync and async views alike."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        if not is_api_path(request.path):
            return self.get_response(request)
        return self._rewrite(request, self.get_response(request))

    async def _acall(self, request: HttpRequest):
        response = await self.get_response(request)
        if not is_api_path(request.path):
            return response
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return self._rewrite(request, response)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if isinstance(exception, ApiError):
            return exception.response()
        from chukchat.db_errors import is_database_unavailable

        if is_database_unavailable(exception):
            # A restart or failover, not a bug: the client may retry shortly.
            logger.warning("database unavailable on %s: %s", request.path, exception)
            response = database_unavailable().response()
            if not is_api_path(request.path):
                response = HttpResponse(
                    "The service is briefly unavailable. Try again in a moment.",
                    status=503,
                    content_type="text/plain; charset=utf-8",
                )
                response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
            return response
        if not is_api_path(request.path):
            return None
        from django.core.exceptions import RequestDataTooBig

        if isinstance(exception, RequestDataTooBig):
            return error_response(413, "payload_too_large", "The request body is too large.")
        logger.exception("Unhandled error on %s", request.path)
        return error_response(500, "internal_error", "Something went wrong on our side.")

    @staticmethod
    def _rewrite(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code < 400 or response.streaming:
            return response
        content_type = response.get("Content-Type", "")
        if content_type.startswith("application/json"):
            return response
        code, message = _STATUS_DEFAULTS.get(response.status_code, ("error", "The request failed."))
        rewritten = error_response(response.status_code, code, message)
        for header in ("Allow", "Retry-After"):
            if header in response:
                rewritten[header] = response[header]
        return rewritten


def drf_exception_handler(exc, context):
    """DRF's errors in our format (validation errors name the first bad field)."""
    if isinstance(exc, ApiError):
        return _drf_response(exc)
    if isinstance(exc, drf_exceptions.ValidationError):
        message, param = _first_validation_message(exc.detail)
        return _drf_response(ApiError(400, "invalid_request", message, param=param))
    if isinstance(exc, drf_exceptions.ParseError):
        return _drf_response(ApiError(400, "invalid_json", "Request body is not valid JSON."))
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return _drf_response(
            ApiError(415, "unsupported_media_type", "Content-Type must be application/json.")
        )
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        return _drf_response(
            ApiError(401, "invalid_api_key", str(exc.detail) or "Invalid API key.")
        )
    if isinstance(exc, drf_exceptions.Throttled):
        return _drf_response(ApiError(429, "rate_limit_exceeded", "Rate limit exceeded."))
    if isinstance(exc, drf_exceptions.APIException):
        return _drf_response(ApiError(exc.status_code, exc.default_code, str(exc.detail)))
    from django.http import Http404

    if isinstance(exc, Http404):
        return _drf_response(ApiError(404, "not_found", "Not found."))
    from chukchat.db_errors import is_database_unavailable

    if is_database_unavailable(exc):
        logger.warning("database unavailable: %s", exc)
        return _drf_response(database_unavailable())
    return None


def _drf_response(error: ApiError):
    from rest_framework.response import Response

    return Response(error.payload(), status=error.status, headers=error.headers)


def _first_validation_message(detail, path: str = "") -> tuple[str, str | None]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if not path else f"{path}.{key}"
            message, param = _first_validation_message(value, name)
            return message, param
    if isinstance(detail, list) and detail:
        return _first_validation_message(detail[0], path)
    text = str(detail)
    if path and path != "non_field_errors":
        return f"{path}: {text}", path
    return text, None
