"""OpenAI's synchronous media endpoints, under /v1/ and /api/v1/: POST /audio/transcriptions
and POST /images/generations, each run as a media job (same limits, billing and engines) and
waited for up to MEDIA_SYNC_WAIT_SECONDS; and POST /audio/speech, made while the client waits
(media_tools/speech.py). The official `openai` SDK works unchanged."""

from __future__ import annotations

import asyncio
import base64

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.rate_limits import arate_limit_request
from aiapi.openai_api import api_caller
from billing.money import format_usd
from chukchat.db_threads import db_call
from chukchat.errors import ApiError, json_response
from chukchat.json_body import parse_json_body
from media_tools.errors import api_error_for
from media_tools.jobs import job_cancel
from media_tools.models import MediaJob
from media_tools.selectors import job_wait_finished
from media_tools.signed_urls import signed_file_url
from media_tools.speech import parse_speech_input, speech_create
from media_tools.storage import read_file
from media_tools.submissions import submit_images, submit_transcription
from media_tools.transcript_formats import transcription_response


async def _finished(job: MediaJob, owner_id: int) -> MediaJob:
    try:
        job = await job_wait_finished(job_id=job.id, wait_seconds=settings.MEDIA_SYNC_WAIT_SECONDS)
    except asyncio.CancelledError:
        # The client went away: nobody will read the result, so nobody pays for it.
        await asyncio.shield(db_call(job_cancel, owner_id=owner_id, job_id=job.id))
        raise
    if job.status == MediaJob.Status.SUCCEEDED:
        return job
    if job.status == MediaJob.Status.FAILED:
        raise api_error_for(code=job.error_code, message=job.error_message)
    if job.status == MediaJob.Status.CANCELLED:
        raise ApiError(409, "job_cancelled", "The job was cancelled.")
    raise ApiError(
        504,
        "still_running",
        f"The job has not finished within {settings.MEDIA_SYNC_WAIT_SECONDS:g} seconds; it goes "
        f"on as /v1/media/jobs/{job.id}.",
    )


def _headers(response: HttpResponse, job: MediaJob) -> HttpResponse:
    response["x-request-id"] = job.request_id
    response["x-chuk-job"] = str(job.id)
    response["x-chuk-cost"] = format_usd(job.cost)
    return response


@csrf_exempt
@require_POST
async def audio_transcriptions(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request)
    job = await submit_transcription(request, caller=caller, openai_form=True)
    job = await _finished(job, caller.user_id)
    return _headers(transcription_response(job, job.params["response_format"]), job)


@csrf_exempt
@require_POST
async def images_generations(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request)
    job = await submit_images(request, caller=caller, with_response_format=True)
    job = await _finished(job, caller.user_id)
    revised = job.result_data.get("revised_prompts") or []
    data = []
    for index, stored in enumerate(job.result_files):
        if job.params["response_format"] == "b64_json":
            raw = await db_call(read_file, name=stored["name"])
            item = {"b64_json": base64.b64encode(raw).decode()}
        else:
            item = {"url": signed_file_url(request, job=job, index=index)}
        if index < len(revised) and revised[index]:
            item["revised_prompt"] = revised[index]
        data.append(item)
    created = int(job.finished_at.timestamp()) if job.finished_at else 0
    return _headers(json_response({"created": created, "data": data}), job)


@csrf_exempt
@require_POST
async def audio_speech(request: HttpRequest) -> HttpResponse:
    """The audio itself, in the asked format; the web app reads answers aloud with its session."""
    caller = await api_caller(request, allow_session=True)
    model_id, speech_request = parse_speech_input(parse_json_body(request))
    await arate_limit_request(request, caller=caller)
    outcome = await speech_create(caller=caller, model_id=model_id, request=speech_request)
    response = HttpResponse(outcome.audio, content_type=outcome.content_type)
    response["x-request-id"] = outcome.request_id
    response["x-chuk-cost"] = format_usd(outcome.cost)
    return response
