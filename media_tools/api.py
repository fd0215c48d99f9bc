"""The media job API: POST /v1/media/transcriptions | images | convert (202 with the job),
GET /v1/media/jobs/{id} (status and progress), GET .../result, GET .../files/{n}, DELETE
(cancel a running job, or forget a finished one). Owner only: anyone else gets 404.

Async views: they authenticate (API key, or the web app's session with CSRF), parse, call one
service or selector in a worker thread, and render."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aiapi.openai_api import api_caller
from chukchat.db_threads import db_call
from chukchat.errors import ApiError, json_response
from media_tools.jobs import job_discard
from media_tools.models import MediaJob
from media_tools.payloads import job_payload
from media_tools.results import result_file, result_payload
from media_tools.selectors import job_for_owner
from media_tools.signed_urls import signed_file_target
from media_tools.storage import read_file
from media_tools.submissions import submit_conversion, submit_images, submit_transcription


def _accepted(job: MediaJob) -> HttpResponse:
    response = json_response(job_payload(job), status=202)
    response["Location"] = f"/v1/media/jobs/{job.id}"
    return response


@require_POST
async def transcriptions_create(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request, allow_session=True)
    return _accepted(await submit_transcription(request, caller=caller, openai_form=False))


@require_POST
async def images_create(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request, allow_session=True)
    return _accepted(await submit_images(request, caller=caller, with_response_format=False))


@require_POST
async def convert_create(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request, allow_session=True)
    return _accepted(await submit_conversion(request, caller=caller))


@require_http_methods(["GET", "DELETE"])
async def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    caller = await api_caller(request, allow_session=True)
    if request.method == "GET":
        job = await db_call(job_for_owner, owner_id=caller.user_id, job_id=job_id)
        return json_response(job_payload(job))
    job = await db_call(job_discard, owner_id=caller.user_id, job_id=job_id)
    return json_response(job_payload(job)) if job is not None else HttpResponse(status=204)


@require_GET
async def job_result(request: HttpRequest, job_id: str) -> HttpResponse:
    caller = await api_caller(request, allow_session=True)
    job = await db_call(job_for_owner, owner_id=caller.user_id, job_id=job_id)
    return json_response(
        result_payload(
            job,
            file_url=lambda index: request.build_absolute_uri(
                f"/v1/media/jobs/{job.id}/files/{index}"
            ),
        )
    )


async def _file_response(job: MediaJob, index: int) -> HttpResponse:
    stored = result_file(job, index)
    data = await db_call(read_file, name=stored["name"])
    response = HttpResponse(data, content_type=stored["content_type"])
    response["Content-Disposition"] = f'inline; filename="{stored["name"].rsplit("/", 1)[-1]}"'
    response["Cache-Control"] = "private, max-age=300"
    return response


@require_GET
async def job_file(request: HttpRequest, job_id: str, index: int) -> HttpResponse:
    caller = await api_caller(request, allow_session=True)
    job = await db_call(job_for_owner, owner_id=caller.user_id, job_id=job_id)
    return await _file_response(job, index)


@require_GET
async def signed_file(request: HttpRequest, token: str) -> HttpResponse:
    """No credentials: the signature (which expires) is the permission."""
    job_id, index = signed_file_target(token)
    job = await db_call(MediaJob.objects.filter(pk=job_id).first)
    if job is None:
        raise ApiError(404, "not_found", "No such file.")
    return await _file_response(job, index)
