"""Audio to text as a media job: the offline PocketSphinx engine on a real Celery worker, the
provider path through the fake upstream, fallbacks, and metering by audio minute."""

from decimal import ROUND_UP, Decimal

from billing.models import CreditAccount, UsageRecord
from billing.selectors import balance_of, ledger_sum
from media_tools.models import MediaJob
from tests.media_tools.helpers import SENTENCE_WORDS, stored_files, wait_for_job


def minutes_of(seconds: float) -> Decimal:
    return (Decimal(seconds) / 60).quantize(Decimal("0.0001"), rounding=ROUND_UP)


def test_spoken_sentence_is_transcribed_offline_on_a_real_worker(
    worker, http, dora, spoken_wav, media_root
):
    response = http.post(
        "/v1/media/transcriptions",
        files={"file": ("sentence.wav", spoken_wav, "audio/wav")},
        data={"model": "local-transcription"},
    )

    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["kind"] == "transcription" and queued["category"] == "transcription"
    assert queued["status"] in ("queued", "running", "succeeded")
    assert response.headers["Location"] == f"/v1/media/jobs/{queued['id']}"
    job = wait_for_job(http, queued["id"])
    assert job["status"] == "succeeded" and job["progress"] == 100, job
    assert job["provider"] == "local"
    assert worker.job_ids == [job["id"]]  # through Redis and the worker, not inline
    result = http.get(f"/v1/media/jobs/{job['id']}/result").json()
    words = set(result["text"].split())
    assert len(words & SENTENCE_WORDS) >= 6, result["text"]
    assert result["data"]["language"] == "english"
    assert 4.5 < result["data"]["duration"] < 6
    assert result["data"]["segments"] and result["data"]["words"]
    # Charged once, by the minute, at the engine's price; the upload is gone, nothing else left.
    record = UsageRecord.objects.get(request_id=f"media-{job['id'].replace('-', '')}")
    assert record.status == "ok" and record.endpoint == "media.transcription"
    assert record.units == minutes_of(result["data"]["duration"])
    assert record.cost == record.units * Decimal("0.01") == Decimal(job["cost"])
    assert balance_of(user=dora) == Decimal(10) - record.cost == ledger_sum(user=dora)
    assert CreditAccount.objects.get(user=dora).reserved == 0
    assert stored_files(media_root) == []


def test_provider_transcribes_what_was_uploaded(http, spoken_wav, upstream):
    response = http.post(
        "/v1/media/transcriptions",
        files={"file": ("any-name.bin", spoken_wav, "application/octet-stream")},
        data={"model": "fake-whisper", "language": "en"},
    )

    job = wait_for_job(http, response.json()["id"])
    assert job["status"] == "succeeded" and job["provider"] == "fake"
    result = http.get(f"/v1/media/jobs/{job['id']}/result").json()
    assert result["text"] == f"fake transcript of {len(spoken_wav)} bytes"
    sent = [r for r in upstream.requests() if r["path"] == "/v1/audio/transcriptions"][-1]
    assert sent["model"] == "whisper-1" and sent["body"]["language"] == "en"
    assert sent["body"]["file_bytes"] == len(spoken_wav)
    # The job keeps segments and times, so it asks the provider for them.
    assert sent["body"]["response_format"] == "verbose_json"
    assert result["data"]["segments"] == [{"start": 0.0, "end": 1.0, "text": result["text"]}]


def test_a_failing_provider_falls_back_to_the_offline_engine_and_its_price(http, spoken_wav, dora):
    response = http.post(
        "/v1/media/transcriptions",
        files={"file": ("s.wav", spoken_wav, "audio/wav")},
        data={"model": "flaky-whisper"},
    )

    job = wait_for_job(http, response.json()["id"])
    assert job["status"] == "succeeded" and job["provider"] == "local"
    record = UsageRecord.objects.get(request_id=MediaJob.objects.get(pk=job["id"]).request_id)
    assert record.cost == record.units * Decimal("0.01")  # the engine that answered


def test_the_default_model_is_the_offline_one(http, spoken_wav, settings):
    settings.DEFAULT_TRANSCRIPTION_MODEL = "local-transcription"
    response = http.post(
        "/v1/media/transcriptions", files={"file": ("s.wav", spoken_wav, "audio/wav")}
    )

    assert response.json()["model"] == "local-transcription"
    assert wait_for_job(http, response.json()["id"])["status"] == "succeeded"
