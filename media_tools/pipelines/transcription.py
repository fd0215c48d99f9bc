"""Audio to text: decode (which checks the file and its length against the plan), then the
model's provider or its fallbacks (the offline PocketSphinx engine among them)."""

from __future__ import annotations

from decimal import ROUND_UP, Decimal

from aiapi.providers.base import TranscriptionRequest
from aiapi.routing import route_transcription
from media_tools.engines.audio_decode import AudioDecodeError, AudioTooLong, decode_to_pcm16k
from media_tools.errors import MediaError
from media_tools.jobs import Outcome
from media_tools.limits import media_limits
from media_tools.models import MediaJob
from media_tools.pipelines.common import Progress, job_model
from media_tools.sniff import ALL
from media_tools.storage import read_file
from media_tools.worker_loop import run_async


def run_transcription(job: MediaJob, progress: Progress, stored: list[str]) -> Outcome:
    limits = media_limits(plan_slug=job.plan)
    audio = read_file(job.input_file)
    try:
        decoded = decode_to_pcm16k(audio, max_seconds=limits.max_audio_seconds)
    except AudioTooLong:
        raise MediaError(
            "audio_too_long",
            f"The audio is longer than the {limits.max_audio_seconds} seconds your plan "
            f"({limits.plan}) allows.",
        ) from None
    except AudioDecodeError as error:
        raise MediaError(
            "corrupt_file",
            f"The file could not be read as {job.input_type.upper()} audio: {error}.",
        ) from None
    progress(20)
    file_type = ALL[job.input_type]
    params = job.params
    request = TranscriptionRequest(
        audio=audio,
        filename=f"audio.{file_type.extension}",
        content_type=file_type.content_type,
        pcm16k=decoded.pcm,
        duration=decoded.duration,
        language=params.get("language"),
        prompt=params.get("prompt"),
        temperature=params.get("temperature"),
        timestamps=bool(params.get("timestamps")),
        progress=lambda fraction: progress(20 + int(fraction * 75)),
    )
    answered_by, result = run_async(route_transcription(model=job_model(job), request=request))
    minutes = (Decimal(decoded.duration) / 60).quantize(Decimal("0.0001"), rounding=ROUND_UP)
    return Outcome(
        text=result.text,
        data={
            "language": result.language or params.get("language") or "english",
            "duration": round(decoded.duration, 2),
            "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in result.segments],
            "words": [{"word": w.word, "start": w.start, "end": w.end} for w in result.words],
        },
        units=minutes,
        answered_by=answered_by,
    )
