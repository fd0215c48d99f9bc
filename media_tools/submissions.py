"""Submitting a job from an HTTP request, shared by the job API and the OpenAI-compatible forms:
authenticate nothing (the view did), read and check the input against the caller's plan, resolve
the model, then one service call that holds the credit, stores the upload and queues the job."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.model_allow_list import require_model_allowed
from accounts.rate_limits import arate_limit_request
from aiapi.chat_service import Caller, resolve_model
from aiapi.models import AiModel
from chukchat.db_threads import db_call
from chukchat.json_body import parse_json_body
from media_tools.inputs import (
    audio_upload,
    convert_params,
    convertible_upload,
    image_params,
    read_form,
    transcription_params,
)
from media_tools.jobs import job_create
from media_tools.limits import limits_for_user
from media_tools.models import MediaJob


async def submit_transcription(
    request: HttpRequest, *, caller: Caller, openai_form: bool
) -> MediaJob:
    """The OpenAI form names its model and response format; the job API may leave the model to
    the default and always keeps segments and times."""
    await arate_limit_request(
        request, caller=caller, category=MediaJob.CATEGORIES[MediaJob.Kind.TRANSCRIPTION]
    )
    limits = await db_call(limits_for_user, user_id=caller.user_id)
    form, files = await read_form(request, limits=limits)
    model_id, params = transcription_params(form, model_required=openai_form)
    if not openai_form:
        del params["response_format"]
        params["timestamps"] = True
    require_model_allowed(allowed_models=caller.allowed_models, model_id=model_id)
    model = await resolve_model(model_id, kind=AiModel.Kind.TRANSCRIPTION)
    upload, file_type = audio_upload(files, limits=limits)
    return await db_call(
        job_create,
        owner_id=caller.user_id,
        api_key_id=caller.api_key_id,
        kind=MediaJob.Kind.TRANSCRIPTION,
        limits=limits,
        params=params,
        model=model,
        upload=upload,
        upload_name=upload.name or "",
        upload_size=upload.size,
        file_type=file_type,
    )


async def submit_images(
    request: HttpRequest, *, caller: Caller, with_response_format: bool
) -> MediaJob:
    await arate_limit_request(
        request, caller=caller, category=MediaJob.CATEGORIES[MediaJob.Kind.IMAGE]
    )
    limits = await db_call(limits_for_user, user_id=caller.user_id)
    model_id, params = image_params(
        parse_json_body(request), limits=limits, with_response_format=with_response_format
    )
    require_model_allowed(allowed_models=caller.allowed_models, model_id=model_id)
    model = await resolve_model(model_id, kind=AiModel.Kind.IMAGE)
    return await db_call(
        job_create,
        owner_id=caller.user_id,
        api_key_id=caller.api_key_id,
        kind=MediaJob.Kind.IMAGE,
        limits=limits,
        params=params,
        model=model,
    )


async def submit_conversion(request: HttpRequest, *, caller: Caller) -> MediaJob:
    await arate_limit_request(
        request, caller=caller, category=MediaJob.CATEGORIES[MediaJob.Kind.CONVERT]
    )
    limits = await db_call(limits_for_user, user_id=caller.user_id)
    form, files = await read_form(request, limits=limits)
    upload, file_type = convertible_upload(files, limits=limits)
    return await db_call(
        job_create,
        owner_id=caller.user_id,
        api_key_id=caller.api_key_id,
        kind=MediaJob.Kind.CONVERT,
        limits=limits,
        params=convert_params(form, file_type=file_type),
        upload=upload,
        upload_name=upload.name or "",
        upload_size=upload.size,
        file_type=file_type,
    )
