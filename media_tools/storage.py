"""Job files in the "media" storage (Django's storage API: local disk by default, any backend by
setting), under one folder per user and job. Nothing here is ever served by URL directly."""

from __future__ import annotations

import logging
from typing import BinaryIO

from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages

from media_tools.models import MediaJob

logger = logging.getLogger(__name__)


def media_storage() -> Storage:
    return storages["media"]


def job_folder(job: MediaJob) -> str:
    return f"u{job.owner_id}/{job.id.hex}"


def store_input(*, job: MediaJob, file: BinaryIO, extension: str) -> str:
    file.seek(0)
    return media_storage().save(f"{job_folder(job)}/input.{extension}", File(file))


def store_result(*, job: MediaJob, index: int, data: bytes, extension: str) -> str:
    return media_storage().save(f"{job_folder(job)}/result-{index}.{extension}", ContentFile(data))


def read_file(name: str) -> bytes:
    with media_storage().open(name, "rb") as file:
        return file.read()


def delete_files(names: list[str]) -> None:
    """Best effort, and never raises: a file that is already gone is fine."""
    storage = media_storage()
    for name in names:
        if not name:
            continue
        try:
            storage.delete(name)
        except Exception:
            logger.exception("could not delete media file %s", name)


def job_file_names(job: MediaJob) -> list[str]:
    return [job.input_file, *(f["name"] for f in job.result_files)]
