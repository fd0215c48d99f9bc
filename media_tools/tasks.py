import uuid
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import connections

from media_tools.jobs import fail_lost_jobs, media_expire
from media_tools.runner import job_run


@shared_task(
    name="media_tools.tasks.run_media_job",
    acks_late=True,
    soft_time_limit=settings.MEDIA_JOB_SOFT_TIME_LIMIT,
    time_limit=settings.MEDIA_JOB_TIME_LIMIT,
    bind=True,
)
def run_media_job(self, job_id: str) -> str:
    try:
        return job_run(job_id=uuid.UUID(job_id))
    finally:
        if not self.request.is_eager:
            # Back to the pool between jobs (an eager run belongs to its caller's connection).
            for connection in connections.all(initialized_only=True):
                connection.close()


@shared_task(name="media_tools.tasks.expire_media_task")
def expire_media_task() -> dict:
    return {
        "expired": media_expire(),
        "lost": fail_lost_jobs(older_than=timedelta(seconds=settings.MEDIA_STALE_JOB_SECONDS)),
    }
