"""How a job looks on the API (GET /v1/media/jobs/{id}) and on the WebSocket: the same dict."""

from __future__ import annotations

from datetime import datetime

from billing.money import format_usd
from media_tools.models import MediaJob


def _unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def job_payload(job: MediaJob) -> dict:
    return {
        "id": str(job.id),
        "object": "media.job",
        "kind": job.kind,
        "category": job.category,
        "status": job.status,
        "progress": job.progress,
        "model": job.model or None,
        "provider": job.provider or None,
        "input": (
            {"name": job.input_name, "type": job.input_type, "bytes": job.input_bytes}
            if job.input_type
            else None
        ),
        "params": job.params,
        "cost": format_usd(job.cost),
        "error": (
            {"code": job.error_code, "message": job.error_message} if job.error_code else None
        ),
        "result": f"/v1/media/jobs/{job.id}/result" if job.status == job.Status.SUCCEEDED else None,
        "expired": job.expired,
        "created_at": _unix(job.created_at),
        "started_at": _unix(job.started_at),
        "finished_at": _unix(job.finished_at),
        "expires_at": _unix(job.expires_at),
    }
