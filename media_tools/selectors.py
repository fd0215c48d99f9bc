"""Reads of media jobs."""

from __future__ import annotations

import asyncio
import uuid

from chukchat.db_threads import db_call
from chukchat.errors import ApiError
from media_tools.models import MediaJob


def job_not_found(job_id: object) -> ApiError:
    return ApiError(404, "job_not_found", f"No media job '{job_id}'.")


def job_for_owner(*, owner_id: int, job_id: uuid.UUID | str) -> MediaJob:
    """The job if `owner_id` owns it; 404 otherwise (whether it exists is nobody else's business)."""
    try:
        key = uuid.UUID(str(job_id))
    except ValueError:
        raise job_not_found(job_id) from None
    job = MediaJob.objects.filter(pk=key, owner_id=owner_id).first()
    if job is None:
        raise job_not_found(job_id)
    return job


async def job_wait_finished(*, job_id: uuid.UUID, wait_seconds: float) -> MediaJob:
    """The job once it has finished, or as it is when `wait_seconds` have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    delay = 0.05
    while True:
        job = await db_call(MediaJob.objects.get, pk=job_id)
        if job.is_finished or loop.time() >= deadline:
            return job
        await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        delay = min(delay * 1.5, 0.5)
