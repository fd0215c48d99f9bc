"""Generated pictures saved into a conversation: the web app shows an image job's result in the
chat, then saves it here so it is part of the chat's history (shown again on reload, exported
with it, deleted with it)."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from aiapi.conversations import title_from
from aiapi.models import Conversation, ConversationImage
from chukchat.errors import ApiError
from media_tools.models import MediaJob
from media_tools.results import result_file
from media_tools.storage import read_file


def _job_not_found() -> ApiError:
    return ApiError(404, "job_not_found", "No such image job.", param="job_id")


@transaction.atomic
def conversation_image_save(
    *, owner_id: int, conversation_id: int | None, job_id: str
) -> ConversationImage:
    """Copies the first picture of the owner's finished image job into the conversation (a new
    one, titled from the prompt, when `conversation_id` is None). Saving the same job again
    returns the picture saved the first time."""
    try:
        job_uuid = uuid.UUID(str(job_id))
    except ValueError:
        raise _job_not_found() from None
    job = MediaJob.objects.filter(pk=job_uuid, owner_id=owner_id, kind=MediaJob.Kind.IMAGE).first()
    if job is None:
        raise _job_not_found()
    saved = ConversationImage.objects.filter(job_id=job.pk, conversation__owner_id=owner_id).first()
    if saved is not None:
        return saved
    file = result_file(job, 0)  # 409/410 unless the job succeeded and its result is kept
    prompt = str(job.params.get("prompt") or "")
    now = timezone.now()
    if conversation_id is None:
        conversation = Conversation.objects.create(
            owner_id=owner_id,
            title=title_from(prompt),
            model="",
            created_at=now,
            updated_at=now,
        )
    else:
        conversation = Conversation.objects.filter(pk=conversation_id, owner_id=owner_id).first()
        if conversation is None:
            raise ApiError(404, "conversation_not_found", "No such conversation.")
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=now)
    return ConversationImage.objects.create(
        conversation=conversation,
        job_id=job.pk,
        prompt=prompt,
        model=job.answered_by or job.model,
        cost=job.cost,
        content_type=file["content_type"],
        data=read_file(file["name"]),
        created_at=now,
    )


def conversation_image_get(*, owner_id: int, conversation_id: int, image_id: int):
    image = ConversationImage.objects.filter(
        pk=image_id, conversation_id=conversation_id, conversation__owner_id=owner_id
    ).first()
    if image is None:
        raise ApiError(404, "image_not_found", "No such image.")
    return image
