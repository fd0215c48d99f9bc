"""Small helpers the media tests share."""

import io
import time
import wave
from pathlib import Path

SENTENCE = "hello world. please transcribe this sentence about the weather today."
SENTENCE_WORDS = {word.strip(".") for word in SENTENCE.split()}
FINISHED = {"succeeded", "failed", "cancelled"}


def stored_files(root: Path) -> list[str]:
    """Every file in the media storage: what a finished job may have left behind."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def wait_for_job(http, job_id: str, timeout: float = 60.0) -> dict:
    """The job as GET /v1/media/jobs/{id} shows it once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/media/jobs/{job_id}").json()
        if job["status"] in FINISHED:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def silent_wav(seconds: float, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()
