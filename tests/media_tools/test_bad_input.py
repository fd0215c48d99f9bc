"""Bad input gets a clear error, leaves no file behind and costs nothing: wrong types (by
content, whatever the name), oversize uploads, corrupt files, over-long audio, decompression
bombs, conversions past their limits, failing providers, and a balance that cannot pay."""

import io
import struct
import zipfile
import zlib
from decimal import Decimal

import pytest

from billing.models import CreditAccount, UsageRecord
from billing.selectors import balance_of
from media_tools.models import MediaJob
from tests.media_tools.helpers import silent_wav, stored_files, wait_for_job
from tests.media_tools.test_convert import docx_bytes


@pytest.fixture
def nothing_charged(dora, media_root):
    """After the test: no file kept, no credit moved or held, every job charged nothing."""
    yield
    assert stored_files(media_root) == []
    assert balance_of(user=dora) == Decimal(10)
    assert CreditAccount.objects.get(user=dora).reserved == 0
    assert all(r.cost == 0 for r in UsageRecord.objects.filter(user=dora))


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert not MediaJob.objects.exists()


def failed(http, response, code: str) -> dict:
    assert response.status_code == 202, response.text
    job = wait_for_job(http, response.json()["id"])
    assert job["status"] == "failed", job
    assert job["error"]["code"] == code, job["error"]
    record = UsageRecord.objects.get(request_id=MediaJob.objects.get(pk=job["id"]).request_id)
    assert record.status == "error" and record.cost == 0
    return job


def zip_of(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def png_bomb(side: int = 30_000) -> bytes:
    """A valid 1-bit PNG of side x side pixels (900 megapixels) that weighs about 100 KB."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


# --- refused at the door: nothing stored, no job, no hold -------------------------------------


@pytest.mark.parametrize(
    ("path", "name", "content"),
    [
        ("/v1/media/transcriptions", "talk.mp3", b"%PDF-1.7\n1 0 obj\n"),
        ("/v1/media/transcriptions", "voice.wav", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        ("/v1/media/convert", "report.docx", b"just a sentence, named like a document"),
        ("/v1/media/convert", "sheet.xlsx", zip_of({"notes.txt": b"not an office file"})),
        ("/v1/media/convert", "song.pdf", silent_wav(0.5)),
    ],
)
def test_the_type_is_checked_by_content_not_name(http, nothing_charged, path, name, content):
    response = http.post(path, files={"file": (name, content)})

    refused(response, 400, "unsupported_file_type")
    assert "name is not taken into account" in response.json()["error"]["message"]


def test_an_upload_over_the_plans_size_is_refused(http, nothing_charged, settings):
    settings.MEDIA_PLAN_LIMITS = {
        **settings.MEDIA_PLAN_LIMITS,
        "free": {**settings.MEDIA_PLAN_LIMITS["free"], "max_upload_bytes": 50_000},
    }

    response = http.post("/v1/media/transcriptions", files={"file": ("a.wav", silent_wav(3))})

    refused(response, 413, "payload_too_large")
    assert "50000 bytes your plan (free)" in response.json()["error"]["message"]


def test_an_empty_or_missing_file_is_refused(http, nothing_charged):
    refused(http.post("/v1/media/convert", files={"file": ("a.pdf", b"")}), 400, "corrupt_file")
    refused(http.post("/v1/media/convert", data={"target": "png"}), 415, "unsupported_media_type")
    refused(
        http.post("/v1/media/convert", files={"other": ("a.pdf", b"%PDF-")}), 400, "missing_file"
    )


@pytest.mark.parametrize(
    ("name", "content", "fields"),
    [
        ("a.pdf", b"%PDF-1.4\n", {"target": "png"}),
        ("a.png", png_bomb(64), {"target": "markdown"}),
        ("a.png", png_bomb(64), {"target": "gif"}),
        ("a.png", png_bomb(64), {"target": "png", "width": "0"}),
    ],
)
def test_impossible_conversions_are_refused(http, nothing_charged, name, content, fields):
    response = http.post("/v1/media/convert", files={"file": (name, content)}, data=fields)

    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid_target", "invalid_request")
    assert not MediaJob.objects.exists()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "fake-dalle"}, "prompt"),
        ({"model": "fake-dalle", "prompt": "x", "n": 0}, "n"),
        ({"model": "fake-dalle", "prompt": "x", "n": 3}, "n"),  # the free plan allows 2
        ({"model": "fake-dalle", "prompt": "x", "size": "huge"}, "size"),
        ({"model": "fake-dalle", "prompt": "x" * 4001}, "prompt"),
    ],
)
def test_bad_image_requests_are_refused(http, nothing_charged, body, param):
    response = http.post("/v1/media/images", json=body)

    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_a_balance_that_cannot_cover_the_worst_case_is_refused(http, dora, media_root):
    CreditAccount.objects.filter(user=dora).update(balance=Decimal("0.01"))

    response = http.post("/v1/media/images", json={"model": "fake-dalle", "prompt": "x"})

    refused(response, 402, "insufficient_credits")
    assert stored_files(media_root) == []
    assert CreditAccount.objects.get(user=dora).reserved == 0


# --- failed jobs: a clear error, nothing kept, nothing charged -------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\xff" * 200),
        ("a.ogg", b"OggS" + b"\x13" * 300),
        ("a.flac", b"fLaC" + b"\x00\x01" * 150),
        ("a.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x42" * 300),
    ],
)
def test_corrupt_audio_fails_the_job(http, nothing_charged, name, content):
    response = http.post("/v1/media/transcriptions", files={"file": (name, content)})

    job = failed(http, response, "corrupt_file")
    assert "could not be read as" in job["error"]["message"]


def test_audio_longer_than_the_plan_allows_fails_the_job(http, nothing_charged, settings):
    settings.MEDIA_PLAN_LIMITS = {
        **settings.MEDIA_PLAN_LIMITS,
        "free": {**settings.MEDIA_PLAN_LIMITS["free"], "max_audio_seconds": 2},
    }

    response = http.post("/v1/media/transcriptions", files={"file": ("a.wav", silent_wav(5))})

    job = failed(http, response, "audio_too_long")
    assert "2 seconds your plan (free)" in job["error"]["message"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("broken.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >>\ngarbage"),
        ("broken.docx", zip_of({"word/document.xml": b"<w:document><unclosed"})),
        ("broken.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40),
    ],
)
def test_a_corrupt_document_or_image_fails_the_job(http, nothing_charged, name, content):
    target = "png" if name.endswith(".jpg") else "markdown"

    response = http.post(
        "/v1/media/convert", files={"file": (name, content)}, data={"target": target}
    )

    failed(http, response, "corrupt_file")


def test_an_image_decompression_bomb_is_refused(http, nothing_charged):
    bomb = png_bomb()
    assert len(bomb) < 200_000

    response = http.post(
        "/v1/media/convert", files={"file": ("b.png", bomb)}, data={"target": "jpeg"}
    )

    job = failed(http, response, "decompression_bomb")
    assert "30000x30000" in job["error"]["message"]


def test_a_zip_bomb_document_is_refused(http, nothing_charged):
    bomb = zip_of(
        {"word/document.xml": b"<w:document/>", "word/media/filler.bin": bytes(60_000_000)}
    )
    assert len(bomb) < 200_000

    response = http.post("/v1/media/convert", files={"file": ("b.docx", bomb)})

    failed(http, response, "decompression_bomb")


def test_a_conversion_past_its_time_limit_is_stopped(http, nothing_charged, settings):
    settings.MEDIA_CONVERT_WALL_SECONDS = 0.2

    response = http.post("/v1/media/convert", files={"file": ("r.docx", docx_bytes())})

    job = failed(http, response, "conversion_limit")
    assert "longer than 0.2 seconds" in job["error"]["message"]


def test_a_conversion_past_its_memory_limit_is_stopped(http, nothing_charged, settings):
    settings.MEDIA_CONVERT_MEMORY_BYTES = 150 * 1024 * 1024

    response = http.post("/v1/media/convert", files={"file": ("r.docx", docx_bytes())})

    failed(http, response, "conversion_limit")


def test_a_provider_failure_fails_the_job_and_charges_nothing(http, nothing_charged):
    response = http.post("/v1/media/images", json={"model": "broken-dalle", "prompt": "x"})

    failed(http, response, "provider_error")


def test_a_failed_job_in_the_sync_endpoints_is_an_openai_error(http, nothing_charged):
    response = http.post("/v1/images/generations", json={"model": "broken-dalle", "prompt": "x"})
    assert response.status_code == 502 and response.json()["error"]["code"] == "provider_error"

    response = http.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.ogg", b"OggS" + b"\x13" * 300)},
        data={"model": "fake-whisper"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "corrupt_file"
