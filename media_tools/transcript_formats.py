"""A finished transcription in each of OpenAI's response formats: json, text, verbose_json,
srt and vtt."""

from __future__ import annotations

import math

from django.http import HttpResponse

from chukchat.errors import json_response
from media_tools.models import MediaJob


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _segments(job: MediaJob) -> list[dict]:
    segments = job.result_data.get("segments") or []
    if not segments and job.result_text:
        # A provider that gave no times: one segment over the whole audio.
        duration = job.result_data.get("duration") or 0.0
        segments = [{"start": 0.0, "end": duration, "text": job.result_text}]
    return segments


def _usage(job: MediaJob) -> dict:
    return {"type": "duration", "seconds": math.ceil(job.result_data.get("duration") or 0)}


def srt(job: MediaJob) -> str:
    blocks = [
        f"{i}\n{_timestamp(s['start'], ',')} --> {_timestamp(s['end'], ',')}\n{s['text']}\n"
        for i, s in enumerate(_segments(job), start=1)
    ]
    return "\n".join(blocks)


def vtt(job: MediaJob) -> str:
    blocks = [
        f"{_timestamp(s['start'], '.')} --> {_timestamp(s['end'], '.')}\n{s['text']}\n"
        for s in _segments(job)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def verbose_json(job: MediaJob) -> dict:
    data = job.result_data
    payload = {
        "task": "transcribe",
        "language": data.get("language") or "english",
        "duration": data.get("duration") or 0.0,
        "text": job.result_text,
        "segments": [
            {
                "id": index,
                "seek": 0,
                "start": s["start"],
                "end": s["end"],
                "text": s["text"],
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": 0.0,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.0,
            }
            for index, s in enumerate(_segments(job))
        ],
        "usage": _usage(job),
    }
    if data.get("words"):
        payload["words"] = data["words"]
    return payload


def transcription_response(job: MediaJob, response_format: str) -> HttpResponse:
    if response_format == "text":
        return HttpResponse(job.result_text + "\n", content_type="text/plain; charset=utf-8")
    if response_format == "srt":
        return HttpResponse(srt(job), content_type="text/plain; charset=utf-8")
    if response_format == "vtt":
        return HttpResponse(vtt(job), content_type="text/vtt; charset=utf-8")
    if response_format == "verbose_json":
        return json_response(verbose_json(job))
    return json_response({"text": job.result_text, "usage": _usage(job)})
