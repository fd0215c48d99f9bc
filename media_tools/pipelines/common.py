"""What every pipeline needs: the job's model as the catalogue has it now."""

from __future__ import annotations

from collections.abc import Callable

from aiapi.models import AiModel
from aiapi.selectors import active_catalogue
from media_tools.errors import MediaError
from media_tools.models import MediaJob

Progress = Callable[[int], None]


def job_model(job: MediaJob) -> AiModel:
    model = active_catalogue().models.get(job.model)
    if model is None:
        raise MediaError("model_not_found", f"Model '{job.model}' is no longer active.")
    return model
