"""Reading and checking what a client sent for a media job, before anything is stored or held:
the multipart upload (its type found from its content), and each kind's parameters."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import MultiPartParserError

from chukchat.errors import ApiError
from media_tools.jobs import payload_too_large
from media_tools.limits import MediaLimits
from media_tools.sniff import AUDIO, DOCUMENTS, IMAGES, FileType, sniff

MULTIPART_OVERHEAD_BYTES = 1024 * 1024  # room for the form's other fields and boundaries
TRANSCRIPTION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
TIMESTAMPED_FORMATS = ("verbose_json", "srt", "vtt")  # these need segments with times
IMAGE_RESPONSE_FORMATS = ("url", "b64_json")
CONVERT_TARGETS = {"markdown": "markdown", "md": "markdown", "png": "png", "jpeg": "jpeg",
                   "jpg": "jpeg", "webp": "webp"}  # fmt: skip
MAX_PROMPT_CHARS = 4000
MAX_SIDE = 10_000


def _whole_number(text: str, *, max_digits: int = 18) -> int | None:
    """The number a form or JSON field spells in ASCII digits ("1024"), else None. "²" is a
    digit to str.isdigit() but not to int(); a 5,000-digit number is too long for int()."""
    if text.isascii() and text.isdigit() and len(text) <= max_digits:
        return int(text)
    return None


def _parse_multipart(request: HttpRequest) -> tuple[QueryDict, dict]:
    return request.POST, request.FILES


async def read_form(request: HttpRequest, *, limits: MediaLimits) -> tuple[QueryDict, dict]:
    """The form fields and files of a multipart request, parsed off the event loop."""
    if request.content_type != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "Content-Type must be multipart/form-data.")
    length = _whole_number(request.META.get("CONTENT_LENGTH") or "")
    if length is not None and length > limits.max_upload_bytes + MULTIPART_OVERHEAD_BYTES:
        raise payload_too_large(limits)
    try:
        return await sync_to_async(_parse_multipart, thread_sensitive=False)(request)
    except MultiPartParserError:
        raise ApiError(400, "invalid_request", "The multipart form could not be read.") from None


def checked_upload(
    files: dict, *, accepted: dict[str, FileType], limits: MediaLimits
) -> tuple[UploadedFile, FileType]:
    upload = files.get("file")
    if upload is None:
        raise ApiError(400, "missing_file", "Send the file as the form field 'file'.", param="file")
    if upload.size > limits.max_upload_bytes:
        raise payload_too_large(limits)
    if upload.size == 0:
        raise ApiError(400, "corrupt_file", "The file is empty.", param="file")
    file_type = sniff(upload)
    if file_type is None or file_type.name not in accepted:
        found = f" (it looks like {file_type.name.upper()})" if file_type else ""
        raise ApiError(
            400,
            "unsupported_file_type",
            f"The file's content is not one of {', '.join(t.upper() for t in accepted)}"
            f"{found}; its name is not taken into account.",
            param="file",
        )
    return upload, file_type


def audio_upload(files: dict, *, limits: MediaLimits) -> tuple[UploadedFile, FileType]:
    return checked_upload(files, accepted=AUDIO, limits=limits)


def convertible_upload(files: dict, *, limits: MediaLimits) -> tuple[UploadedFile, FileType]:
    return checked_upload(files, accepted={**DOCUMENTS, **IMAGES}, limits=limits)


def _optional_text(data, name: str, *, max_length: int) -> str | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise ApiError(
            400, "invalid_request", f"{name} must be text of at most {max_length} characters",
            param=name,
        )  # fmt: skip
    _no_nul(value, name)
    return value


def _no_nul(value: str, name: str) -> None:
    """A job's parameters are stored (PostgreSQL jsonb), which cannot hold a NUL character."""
    if "\x00" in value:
        raise ApiError(
            400, "invalid_request", f"{name} must not contain NUL (\\u0000) characters",
            param=name,
        )  # fmt: skip


def _optional_int(data, name: str, *, low: int, high: int) -> int | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = _whole_number(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(
            400, "invalid_request", f"{name} must be a whole number from {low} to {high}",
            param=name,
        )  # fmt: skip
    return value


def transcription_params(form, *, model_required: bool) -> tuple[str, dict]:
    model = _optional_text(form, "model", max_length=128)
    if model is None:
        if model_required:
            raise ApiError(400, "invalid_request", "model is required", param="model")
        model = settings.DEFAULT_TRANSCRIPTION_MODEL
    response_format = form.get("response_format") or "json"
    if response_format not in TRANSCRIPTION_FORMATS:
        raise ApiError(
            400,
            "invalid_request",
            f"response_format must be one of {', '.join(TRANSCRIPTION_FORMATS)}",
            param="response_format",
        )
    params: dict = {
        "response_format": response_format,
        "timestamps": response_format in TIMESTAMPED_FORMATS,
    }
    for name, limit in (("language", 16), ("prompt", 2000)):
        value = _optional_text(form, name, max_length=limit)
        if value is not None:
            params[name] = value
    temperature = form.get("temperature")
    if temperature not in (None, ""):
        try:
            params["temperature"] = float(temperature)
        except ValueError:
            params["temperature"] = -1.0
        if not 0 <= params["temperature"] <= 1:
            raise ApiError(
                400, "invalid_request", "temperature must be from 0 to 1", param="temperature"
            )
    return model, params


def image_params(
    body: dict, *, limits: MediaLimits, with_response_format: bool
) -> tuple[str, dict]:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(400, "missing_input", "prompt is required", param="prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(
            400, "invalid_request", f"prompt is longer than {MAX_PROMPT_CHARS} characters",
            param="prompt",
        )  # fmt: skip
    _no_nul(prompt, "prompt")
    model = _optional_text(body, "model", max_length=128) or settings.DEFAULT_IMAGE_MODEL
    n = body.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limits.max_images:
        raise ApiError(
            400,
            "invalid_request",
            f"n must be from 1 to {limits.max_images} on your plan ({limits.plan})",
            param="n",
        )
    params: dict = {"prompt": prompt, "n": n}
    size = _optional_text(body, "size", max_length=16)
    if size is not None:
        width, _, height = (_whole_number(side) for side in size.partition("x"))
        if size != "auto" and not (
            width is not None and height is not None and 1 <= width <= 8192 and 1 <= height <= 8192
        ):
            raise ApiError(
                400, "invalid_request", "size must look like 1024x1024 (or be auto)", param="size"
            )
        params["size"] = size
    for name in ("quality", "style", "user"):
        value = _optional_text(body, name, max_length=64)
        if value is not None:
            params[name] = value
    if with_response_format:
        response_format = body.get("response_format") or "url"
        if response_format not in IMAGE_RESPONSE_FORMATS:
            raise ApiError(
                400,
                "invalid_request",
                "response_format must be url or b64_json",
                param="response_format",
            )
        params["response_format"] = response_format
    return model, params


def convert_params(form, *, file_type: FileType) -> dict:
    raw = (form.get("target") or ("markdown" if file_type.family == "document" else "")).lower()
    target = CONVERT_TARGETS.get(raw)
    allowed = "markdown" if file_type.family == "document" else "png, jpeg or webp"
    if target is None or (target == "markdown") != (file_type.family == "document"):
        raise ApiError(
            400,
            "invalid_target",
            f"A {file_type.name.upper()} file converts to {allowed}.",
            param="target",
        )
    params: dict = {"target": target}
    for name in ("width", "height"):
        value = _optional_int(form, name, low=1, high=MAX_SIDE)
        if value is not None:
            if target == "markdown":
                raise ApiError(400, "invalid_request", f"{name} applies to images only", param=name)
            params[name] = value
    return params
