"""A finished job's result, as GET /v1/media/jobs/{id}/result gives it, and its files."""

from __future__ import annotations

from collections.abc import Callable

from chukchat.errors import ApiError
from media_tools.models import MediaJob


def ensure_result(job: MediaJob) -> None:
    """ApiError unless the job succeeded and its results are still kept."""
    if job.status in (MediaJob.Status.QUEUED, MediaJob.Status.RUNNING):
        raise ApiError(409, "job_not_finished", f"The job is {job.status} ({job.progress}%).")
    if job.status == MediaJob.Status.FAILED:
        raise ApiError(409, "job_failed", f"The job failed: {job.error_message}")
    if job.status == MediaJob.Status.CANCELLED:
        raise ApiError(409, "job_cancelled", "The job was cancelled.")
    if job.expired:
        raise ApiError(410, "result_expired", "The job's results have expired and were deleted.")


def result_payload(job: MediaJob, *, file_url: Callable[[int], str]) -> dict:
    ensure_result(job)
    return {
        "id": str(job.id),
        "object": "media.result",
        "kind": job.kind,
        "text": job.result_text if job.kind != MediaJob.Kind.IMAGE else None,
        "files": [
            {"url": file_url(index), "content_type": f["content_type"], "bytes": f["bytes"]}
            for index, f in enumerate(job.result_files)
        ],
        "data": job.result_data,
    }


def result_file(job: MediaJob, index: int) -> dict:
    ensure_result(job)
    if not 0 <= index < len(job.result_files):
        raise ApiError(404, "not_found", "No such file.")
    return job.result_files[index]
