"""Reading a JSON request body the same way on every API view: right content type, bounded
size, an object at the top, clear errors otherwise."""

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from chukchat.errors import ApiError


def parse_json_body(request: HttpRequest) -> dict:
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json.")
    length = request.META.get("CONTENT_LENGTH")
    if length and length.isdigit() and int(length) > settings.API_MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", "The request body is too large.")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError(413, "payload_too_large", "The request body is too large.") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "Request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "Request body must be a JSON object.")
    return data
