import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from billing.models import MONEY


class MediaJob(models.Model):
    """One piece of media work run by a Celery worker: a transcription, an image generation or a
    file conversion. Its files live in the "media" storage under the owner's own folder."""

    class Kind(models.TextChoices):
        TRANSCRIPTION = "transcription"
        IMAGE = "image"
        CONVERT = "convert"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    # The rate limit category of each kind: where rate limits will be wired in.
    CATEGORIES = {
        Kind.TRANSCRIPTION: "transcription",
        Kind.IMAGE: "image",
        Kind.CONVERT: "convert",
    }
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="media_jobs"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # 0-100
    plan = models.CharField(max_length=32)  # the owner's plan when submitted: its limits apply
    params = models.JSONField(default=dict, blank=True)  # prompt, size, language, target, ...
    model = models.CharField(max_length=128, blank=True)  # public id asked for
    answered_by = models.CharField(max_length=128, blank=True)  # the model (or fallback) used
    provider = models.CharField(max_length=64, blank=True)
    input_file = models.CharField(max_length=300, blank=True)  # storage name, until finished
    input_name = models.CharField(max_length=200, blank=True)  # as the client named it
    input_type = models.CharField(max_length=16, blank=True)  # detected from the content
    input_bytes = models.PositiveBigIntegerField(default=0)
    result_text = models.TextField(blank=True)
    result_data = models.JSONField(default=dict, blank=True)  # segments, revised prompts, ...
    # [{"name": storage name, "content_type", "bytes"}]
    result_files = models.JSONField(default=list, blank=True)
    units = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    cost = models.DecimalField(default=Decimal("0"), **MONEY)
    request_id = models.CharField(max_length=64, unique=True)  # the reservation and usage record
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    expired = models.BooleanField(default=False)  # results deleted after expires_at

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} job {self.id} ({self.status})"

    @property
    def category(self) -> str:
        return self.CATEGORIES[self.kind]

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED
