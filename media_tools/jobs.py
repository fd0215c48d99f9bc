"""Writes of media jobs: create (reserve, store, enqueue), the worker's transitions (start,
progress, succeed, fail), cancel, delete, and expiry.

Every transition is a conditional UPDATE on the current status, so of two racing writers
(a worker finishing while its owner cancels) exactly one wins, and only the winner settles:
a job is charged once when it succeeds, and nothing when it fails or is cancelled."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aiapi.models import AiModel
from aiapi.routing import candidates
from aiapi.selectors import active_catalogue
from billing.metering import reserve
from billing.models import UsageRecord
from billing.prices import Prices
from billing.settlement import settle_sync, usage_record
from chukchat.errors import ApiError
from media_tools.events import publish_job
from media_tools.limits import MediaLimits
from media_tools.models import MediaJob
from media_tools.selectors import job_for_owner
from media_tools.sniff import FileType
from media_tools.storage import delete_files, job_file_names, store_input

logger = logging.getLogger(__name__)
ZERO = Decimal("0")
Status = MediaJob.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)


@dataclass
class StoredFile:
    name: str
    content_type: str
    bytes: int


@dataclass
class Outcome:
    """What a finished pipeline hands back: text, data, files already stored, billable units."""

    text: str = ""
    data: dict = field(default_factory=dict)
    files: list[StoredFile] = field(default_factory=list)
    units: Decimal = ZERO
    answered_by: AiModel | None = None


def payload_too_large(limits: MediaLimits) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"The file is larger than the {limits.max_upload_bytes} bytes your plan "
        f"({limits.plan}) allows.",
    )


def worst_case_cost(*, kind: str, model: AiModel | None, params: dict, limits: MediaLimits):
    """The most the job can cost, whichever of the model and its fallbacks answers."""
    if kind == MediaJob.Kind.CONVERT or model is None:
        return settings.MEDIA_CONVERT_PRICE
    chain = candidates(model, active_catalogue())
    if kind == MediaJob.Kind.IMAGE:
        return params["n"] * max(m.image_price for m in chain)
    return Decimal(limits.max_audio_seconds) / 60 * max(m.audio_minute_price for m in chain)


def job_create(
    *,
    owner_id: int,
    api_key_id: int | None,
    kind: str,
    limits: MediaLimits,
    params: dict,
    model: AiModel | None = None,
    upload: BinaryIO | None = None,
    upload_name: str = "",
    upload_size: int = 0,
    file_type: FileType | None = None,
) -> MediaJob:
    """Hold the worst-case cost (402 when the balance cannot cover it), store the upload under
    the owner's folder, save the job and queue it. Nothing is left behind when a step fails."""
    if upload is not None and upload_size > limits.max_upload_bytes:
        raise payload_too_large(limits)
    job_id = uuid.uuid4()
    job = MediaJob(
        id=job_id,
        owner_id=owner_id,
        api_key_id=api_key_id,
        kind=kind,
        plan=limits.plan,
        params=params,
        model=model.public_id if model else "",
        request_id=f"media-{job_id.hex}",
    )
    if upload is not None and file_type is not None:
        job.input_name = upload_name[:200]
        job.input_type = file_type.name
        job.input_bytes = upload_size
    reserve(
        user_id=owner_id,
        api_key_id=api_key_id,
        request_id=job.request_id,
        amount=worst_case_cost(kind=kind, model=model, params=params, limits=limits),
    )
    try:
        if upload is not None and file_type is not None:
            job.input_file = store_input(job=job, file=upload, extension=file_type.extension)
        job.save(force_insert=True)
    except BaseException:
        delete_files([job.input_file])
        _settle(job, status=UsageRecord.Status.ERROR, error_code="internal_error")
        raise
    _enqueue(job)
    return job


def _enqueue(job: MediaJob) -> None:
    from media_tools.tasks import run_media_job

    try:
        run_media_job.delay(str(job.id))
    except Exception:
        logger.exception("could not queue media job %s", job.id)
        job_fail(job_id=job.id, code="internal_error", message="The job could not be queued.")
        raise ApiError(
            503, "queue_unavailable", "Media jobs cannot be queued right now. Try again."
        ) from None


def _settle(
    job: MediaJob,
    *,
    status: str,
    units: Decimal = ZERO,
    answered_by: AiModel | None = None,
    error_code: str = "",
) -> UsageRecord:
    if job.kind == MediaJob.Kind.CONVERT:
        # A conversion has no model: it is charged per conversion, as one unit.
        prices = Prices(image=settings.MEDIA_CONVERT_PRICE)
    else:
        prices = Prices.of(answered_by) if answered_by is not None else Prices()
    started = job.started_at or job.created_at
    record = usage_record(
        request_id=job.request_id,
        user_id=job.owner_id,
        api_key_id=job.api_key_id,
        endpoint=f"media.{job.kind}",
        model=job.model or job.kind,
        provider=answered_by.provider.name if answered_by else "",
        upstream_model=answered_by.upstream if answered_by else "",
        units=units if status == UsageRecord.Status.OK else ZERO,
        latency_ms=max(0, int((timezone.now() - started).total_seconds() * 1000)),
        status=status,
        error_code=error_code,
    )
    return settle_sync(record=record, prices=prices)


def job_start(*, job_id: uuid.UUID) -> MediaJob | None:
    """Queued to running, for the worker; None when the job is no longer queued."""
    started = MediaJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now(), progress=0
    )
    if not started:
        return None
    job = MediaJob.objects.get(pk=job_id)
    publish_job(job)
    return job


def job_set_progress(*, job_id: uuid.UUID, progress: int) -> bool:
    """False when the job is no longer running (it was cancelled): the worker should stop."""
    updated = MediaJob.objects.filter(pk=job_id, status=Status.RUNNING).update(
        progress=max(0, min(progress, 99))
    )
    if updated:
        publish_job(MediaJob.objects.get(pk=job_id))
    return bool(updated)


def job_succeed(*, job_id: uuid.UUID, outcome: Outcome) -> bool:
    """Running to succeeded, and its one charge, in one transaction. False when the job was
    cancelled meanwhile: the caller then deletes the files it stored."""
    now = timezone.now()
    answered = outcome.answered_by
    with transaction.atomic():
        updated = MediaJob.objects.filter(pk=job_id, status=Status.RUNNING).update(
            status=Status.SUCCEEDED,
            progress=100,
            result_text=outcome.text,
            result_data=outcome.data,
            result_files=[vars(f) for f in outcome.files],
            units=outcome.units,
            answered_by=answered.public_id if answered else "",
            provider=answered.provider.name if answered else "",
            finished_at=now,
            expires_at=now + timedelta(seconds=settings.MEDIA_RESULT_TTL_SECONDS),
        )
        if not updated:
            return False
        job = MediaJob.objects.get(pk=job_id)
        record = _settle(
            job, status=UsageRecord.Status.OK, units=outcome.units, answered_by=answered
        )
        MediaJob.objects.filter(pk=job_id).update(cost=record.cost, input_file="")
    # The upload is not needed once the job is done.
    delete_files([job.input_file])
    job.refresh_from_db()
    publish_job(job)
    return True


def job_fail(*, job_id: uuid.UUID, code: str, message: str) -> bool:
    """Queued or running to failed: charged nothing, every file of the job deleted."""
    with transaction.atomic():
        updated = MediaJob.objects.filter(pk=job_id, status__in=ACTIVE).update(
            status=Status.FAILED,
            error_code=code,
            error_message=message[:500],
            finished_at=timezone.now(),
        )
        if not updated:
            return False
        job = MediaJob.objects.get(pk=job_id)
        _settle(job, status=UsageRecord.Status.ERROR, error_code=code)
        MediaJob.objects.filter(pk=job_id).update(input_file="", result_files=[])
    delete_files(job_file_names(job))
    job.refresh_from_db()
    publish_job(job)
    return True


def job_cancel(*, owner_id: int, job_id: uuid.UUID | str) -> MediaJob:
    """Stop a queued or running job of the owner's: charged nothing, its files deleted. A job
    that has already finished is returned as it is."""
    job = job_for_owner(owner_id=owner_id, job_id=job_id)
    with transaction.atomic():
        updated = MediaJob.objects.filter(pk=job.pk, status__in=ACTIVE).update(
            status=Status.CANCELLED, finished_at=timezone.now()
        )
        if not updated:
            job.refresh_from_db()
            return job
        job.refresh_from_db()
        _settle(job, status=UsageRecord.Status.CANCELLED, error_code="cancelled")
        MediaJob.objects.filter(pk=job.pk).update(input_file="", result_files=[])
    delete_files(job_file_names(job))
    job.refresh_from_db()
    publish_job(job)
    return job


def job_discard(*, owner_id: int, job_id: uuid.UUID | str) -> MediaJob | None:
    """What DELETE does: a queued or running job is cancelled (and returned as it now is); a
    finished one is forgotten with its files (None)."""
    job = job_for_owner(owner_id=owner_id, job_id=job_id)
    if not job.is_finished:
        return job_cancel(owner_id=owner_id, job_id=job.pk)
    MediaJob.objects.filter(pk=job.pk).delete()
    delete_files(job_file_names(job))
    return None


def media_expire(*, now=None) -> int:
    """Delete the results of jobs past their expiry; the job rows stay, marked expired."""
    now = now or timezone.now()
    expired = 0
    for job in MediaJob.objects.filter(expires_at__lte=now, expired=False).iterator():
        updated = MediaJob.objects.filter(pk=job.pk, expired=False).update(
            expired=True, result_text="", result_data={}, result_files=[], input_file=""
        )
        if updated:
            delete_files(job_file_names(job))
            expired += 1
    return expired


def fail_lost_jobs(*, older_than: timedelta) -> int:
    """Jobs queued or running far longer than any job may take: their worker died."""
    cutoff = timezone.now() - older_than
    lost = MediaJob.objects.filter(status__in=ACTIVE, created_at__lt=cutoff)
    return sum(
        job_fail(
            job_id=job_id, code="job_lost", message="The job's worker stopped before it finished."
        )
        for job_id in lost.values_list("pk", flat=True)
    )
