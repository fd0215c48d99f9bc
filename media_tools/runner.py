"""Running one job on a worker: start it, run its kind's pipeline with progress reports, then
succeed or fail it. Whatever happens, files the run stored are kept only if it succeeded."""

from __future__ import annotations

import logging
import threading
import uuid

from celery.exceptions import SoftTimeLimitExceeded
from django.db import connections

from chukchat.errors import ApiError
from media_tools.errors import JobCancelled, MediaError
from media_tools.jobs import job_fail, job_set_progress, job_start, job_succeed
from media_tools.models import MediaJob
from media_tools.pipelines.convert import run_convert
from media_tools.pipelines.image import run_image
from media_tools.pipelines.transcription import run_transcription
from media_tools.storage import delete_files

logger = logging.getLogger(__name__)

PIPELINES = {
    MediaJob.Kind.TRANSCRIPTION: run_transcription,
    MediaJob.Kind.IMAGE: run_image,
    MediaJob.Kind.CONVERT: run_convert,
}


class ProgressReporter:
    """Records rising progress and stops the run (JobCancelled) once the job was cancelled.
    Engines may call it from their own threads, which then hand their connection back."""

    def __init__(self, job_id: uuid.UUID) -> None:
        self.job_id = job_id
        self.last = 0
        self.thread = threading.current_thread()

    def __call__(self, progress: int) -> None:
        if progress <= self.last:
            return
        self.last = progress
        try:
            running = job_set_progress(job_id=self.job_id, progress=progress)
        finally:
            if threading.current_thread() is not self.thread:
                for connection in connections.all(initialized_only=True):
                    connection.close()
        if not running:
            raise JobCancelled()


def job_run(*, job_id: uuid.UUID) -> str:
    job = job_start(job_id=job_id)
    if job is None:
        return "skipped"  # cancelled before it started, or already taken
    stored: list[str] = []
    try:
        outcome = PIPELINES[job.kind](job, ProgressReporter(job.id), stored)
    except JobCancelled:
        delete_files(stored)
        return "cancelled"
    except MediaError as error:
        return _failed(job, stored, error.code, error.message)
    except ApiError as error:  # every provider failed
        return _failed(job, stored, error.code, error.message)
    except SoftTimeLimitExceeded:
        return _failed(
            job, stored, "job_timeout", "The job took longer than it may and was stopped."
        )
    except Exception:
        logger.exception("media job %s broke", job.id)
        return _failed(job, stored, "internal_error", "Something went wrong on our side.")
    if not job_succeed(job_id=job.id, outcome=outcome):
        delete_files(stored)  # cancelled while finishing
        return "cancelled"
    return "succeeded"


def _failed(job: MediaJob, stored: list[str], code: str, message: str) -> str:
    delete_files(stored)
    job_fail(job_id=job.id, code=code, message=message)
    return "failed"
