"""Status and progress pushes: every change of a job is sent to its Channels group, where the
WebSocket consumer (a subscription `{"type": "job", "id"}`) forwards it to the browser."""

from __future__ import annotations

import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from media_tools.models import MediaJob
from media_tools.payloads import job_payload

logger = logging.getLogger(__name__)
EVENT_TYPE = "media.job"


def job_group(job_id: uuid.UUID | str) -> str:
    """The job's Channels group name (ASCII letters, digits, '-' and '.': always valid)."""
    return f"media-job.{uuid.UUID(str(job_id)).hex}"


def publish_job(job: MediaJob) -> None:
    """From sync code (the worker, services): a failed push never fails the job."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            job_group(job.id), {"type": EVENT_TYPE, "job": job_payload(job)}
        )
    except Exception:
        logger.warning("could not publish media job %s", job.id, exc_info=True)
