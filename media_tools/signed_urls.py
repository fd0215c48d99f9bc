"""Links to a job's result files that work without credentials until they expire, for
response_format=url: signed with the secret key, naming the job and the file's index."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core import signing
from django.http import HttpRequest

from chukchat.errors import ApiError
from media_tools.models import MediaJob

SALT = "media_tools.signed_file"


def signed_file_url(request: HttpRequest, *, job: MediaJob, index: int) -> str:
    token = signing.dumps([job.id.hex, index], salt=SALT)
    return request.build_absolute_uri(f"/v1/media/files/{token}")


def signed_file_target(token: str) -> tuple[uuid.UUID, int]:
    try:
        job_hex, index = signing.loads(token, salt=SALT, max_age=settings.MEDIA_URL_TTL_SECONDS)
    except signing.SignatureExpired:
        raise ApiError(403, "url_expired", "This link has expired.") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise ApiError(404, "not_found", "No such file.") from None
    return uuid.UUID(job_hex), int(index)
