"""What media_tools holds about a person, for their data export and for erasing it when they
delete their account: their jobs (prompts, file names, transcripts) and the files of those
jobs. Running jobs are cancelled first, so no worker writes a file after the erase."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from media_tools.jobs import job_cancel
from media_tools.models import MediaJob
from media_tools.payloads import job_payload
from media_tools.storage import delete_files, job_file_names


def export_for(*, user: User) -> dict:
    return {
        "jobs": [
            {**job_payload(job), "resultText": job.result_text or None}
            for job in MediaJob.objects.filter(owner=user).order_by("created_at")
        ]
    }


def erase_for(*, user: User) -> dict[str, int]:
    for job in MediaJob.objects.filter(owner=user).exclude(status__in=MediaJob.FINISHED):
        job_cancel(owner_id=user.pk, job_id=job.pk)
    jobs = list(MediaJob.objects.filter(owner=user))
    files = [name for job in jobs for name in job_file_names(job)]
    deleted, _ = MediaJob.objects.filter(owner=user).delete()
    transaction.on_commit(lambda: delete_files(files))
    return {"media jobs": deleted}
