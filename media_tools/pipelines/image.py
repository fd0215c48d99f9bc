"""A prompt to images through the model's provider (or its fallbacks, the demo provider's
placeholder last); each image is checked to be one before it is kept."""

from __future__ import annotations

import io
from decimal import Decimal

from django.conf import settings

from aiapi.providers.base import ImageRequest
from aiapi.routing import route_images
from media_tools.errors import MediaError
from media_tools.jobs import Outcome, StoredFile
from media_tools.models import MediaJob
from media_tools.pipelines.common import Progress, job_model
from media_tools.sniff import IMAGES, sniff
from media_tools.storage import store_result
from media_tools.worker_loop import run_async


def checked_image(data: bytes):
    """The image's type, if `data` is an image of a sane size (the header is enough)."""
    from PIL import Image

    file_type = sniff(io.BytesIO(data))
    if file_type is None or file_type.name not in IMAGES:
        raise MediaError("provider_error", "The provider sent something that is not an image.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = image.width * image.height
    except Exception:
        raise MediaError(
            "provider_error", "The provider sent an image we could not read."
        ) from None
    if pixels > settings.MEDIA_MAX_IMAGE_PIXELS:
        raise MediaError("provider_error", "The provider sent an image larger than we accept.")
    return file_type


def run_image(job: MediaJob, progress: Progress, stored: list[str]) -> Outcome:
    params = job.params
    request = ImageRequest(
        prompt=params["prompt"],
        n=params["n"],
        size=params.get("size"),
        quality=params.get("quality"),
        style=params.get("style"),
        user=params.get("user"),
    )
    progress(10)
    answered_by, result = run_async(route_images(model=job_model(job), request=request))
    progress(80)
    files = []
    for index, data in enumerate(result.images[: request.n]):
        file_type = checked_image(data)
        name = store_result(job=job, index=index, data=data, extension=file_type.extension)
        stored.append(name)
        files.append(StoredFile(name=name, content_type=file_type.content_type, bytes=len(data)))
    revised = (result.revised_prompts + [None] * len(files))[: len(files)]
    return Outcome(
        data={"revised_prompts": revised},
        files=files,
        units=Decimal(len(files)),
        answered_by=answered_by,
    )
