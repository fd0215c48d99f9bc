"""Why a media job failed: a code for programs, a message for people, and the HTTP status the
synchronous OpenAI-compatible endpoints answer with."""

from __future__ import annotations

from chukchat.errors import ApiError

STATUS_BY_CODE = {
    "unsupported_file_type": 400,
    "corrupt_file": 400,
    "audio_too_long": 400,
    "decompression_bomb": 400,
    "conversion_limit": 400,
    "conversion_failed": 400,
    "model_not_found": 404,
    "provider_error": 502,
    "provider_timeout": 504,
    "job_timeout": 504,
    "job_lost": 500,
    "internal_error": 500,
}


class MediaError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class JobCancelled(Exception):
    """The job was cancelled while it ran: stop, keep nothing."""


def api_error_for(*, code: str, message: str) -> ApiError:
    return ApiError(STATUS_BY_CODE.get(code, 500), code, message)
