"""A user's data export: everything we hold about them as one JSON archive, built by a Celery
job, stored under their own path, downloadable once and until it expires."""

from __future__ import annotations

from datetime import timedelta

import orjson
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts.models import DataExport, User
from chukchat.errors import ApiError


def personal_data_sections():
    """Each app's export and erase functions, in the order erasing must run."""
    from accounts import personal_data as account
    from aiapi import personal_data as chat
    from billing import personal_data as billing
    from media_tools import personal_data as media

    # Billing first: if Stripe cannot cancel the subscription, nothing else is erased.
    return [("billing", billing), ("media", media), ("chat", chat), ("account", account)]


def export_build(*, user: User) -> dict:
    archive = {"exportedAt": timezone.now().isoformat(), "userId": user.pk}
    for name, section in personal_data_sections():
        archive[name] = section.export_for(user=user)
    return archive


def data_export_request(*, user: User) -> DataExport:
    """Starts an export, unless one is already being built."""
    if DataExport.objects.filter(user=user, status=DataExport.Status.PENDING).exists():
        raise ApiError(409, "export_in_progress", "An export is already being prepared.")
    export = DataExport.objects.create(user=user)
    from accounts.tasks import data_export_build_task

    transaction.on_commit(lambda: data_export_build_task.delay(export.pk))
    return export


def data_export_build(*, export_id: int) -> DataExport:
    export = DataExport.objects.select_related("user").get(pk=export_id)
    if export.status != DataExport.Status.PENDING:
        return export
    content = orjson.dumps(export_build(user=export.user), option=orjson.OPT_INDENT_2)
    export.file.save(
        f"chuk-export-{export.pk}-{timezone.now():%Y%m%d%H%M%S}.json",
        ContentFile(content),
        save=False,
    )
    export.size = len(content)
    export.status = DataExport.Status.READY
    export.finished_at = timezone.now()
    export.expires_at = export.finished_at + timedelta(seconds=settings.DATA_EXPORT_TTL_SECONDS)
    export.save()
    return export


def data_export_take(*, user: User, export_id: int) -> tuple[str, bytes]:
    """The archive's name and bytes, once: the file is deleted as it is handed over."""
    with transaction.atomic():
        export = DataExport.objects.select_for_update().filter(pk=export_id, user=user).first()
        if export is None:
            raise ApiError(404, "export_not_found", "No such export.")
        if export.status == DataExport.Status.PENDING:
            raise ApiError(409, "export_not_ready", "The export is still being prepared.")
        if export.status != DataExport.Status.READY or export.expires_at <= timezone.now():
            raise ApiError(410, "export_gone", "This export was already downloaded or has expired.")
        name = export.file.name.rsplit("/", 1)[-1]
        with export.file.open("rb") as handle:
            content = handle.read()
        export.file.delete(save=False)
        export.status = DataExport.Status.DOWNLOADED
        export.downloaded_at = timezone.now()
        export.save(update_fields=["file", "status", "downloaded_at"])
    return name, content


def data_exports_expire() -> int:
    """Deletes the files of exports nobody downloaded in time."""
    expired = 0
    for export in DataExport.objects.filter(
        status=DataExport.Status.READY, expires_at__lte=timezone.now()
    ):
        export.file.delete(save=False)
        export.status = DataExport.Status.EXPIRED
        export.save(update_fields=["file", "status"])
        expired += 1
    return expired
