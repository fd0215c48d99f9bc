"""The official `openai` SDK's audio.transcriptions.create and images.generate work against our
synchronous endpoints unchanged, over real HTTP, and the answers match OpenAI's spec."""

import base64
import io

import httpx
import openai
import pytest
from PIL import Image

from fakes.openai_fake import tiny_png
from tests.media_tools.helpers import SENTENCE_WORDS, stored_files
from tests.support.openapi import assert_valid


def test_sdk_transcribes_with_the_offline_engine_on_a_real_worker(
    worker, sdk, spoken_wav, media_root
):
    transcript = sdk.audio.transcriptions.create(
        model="local-transcription", file=("sentence.wav", spoken_wav, "audio/wav")
    )

    assert len(set(transcript.text.split()) & SENTENCE_WORDS) >= 6, transcript.text
    assert len(worker.job_ids) == 1
    assert stored_files(media_root) == []


def test_sdk_transcription_json_conforms(sdk, http, spoken_wav, upstream):
    raw = sdk.audio.transcriptions.with_raw_response.create(
        model="fake-whisper", file=("a.wav", spoken_wav, "audio/wav")
    )
    transcript = raw.parse()

    assert transcript.text == f"fake transcript of {len(spoken_wav)} bytes"
    assert raw.headers["x-chuk-job"] and raw.headers["x-request-id"].startswith("media-")
    response = http.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", spoken_wav, "audio/wav")},
        data={"model": "fake-whisper"},
    )
    assert_valid(response.json(), "CreateTranscriptionResponseJson")
    asked = [r for r in upstream.requests() if r["path"] == "/v1/audio/transcriptions"]
    assert [r["body"]["response_format"] for r in asked] == ["json", "json"]


def test_sdk_verbose_json_has_segments_and_conforms(sdk, http, spoken_wav):
    transcript = sdk.audio.transcriptions.create(
        model="local-transcription",
        file=("a.wav", spoken_wav, "audio/wav"),
        response_format="verbose_json",
    )

    assert transcript.language == "english" and 4.5 < transcript.duration < 6
    assert transcript.segments and transcript.segments[0].start < transcript.segments[-1].end
    assert " ".join(s.text for s in transcript.segments) == transcript.text
    response = http.post(
        "/api/v1/audio/transcriptions",
        files={"file": ("a.wav", spoken_wav, "audio/wav")},
        data={"model": "local-transcription", "response_format": "verbose_json"},
    )
    assert_valid(response.json(), "CreateTranscriptionResponseVerboseJson")


@pytest.mark.parametrize("response_format", ["text", "srt", "vtt"])
def test_sdk_plain_text_formats(sdk, spoken_wav, response_format):
    transcript = sdk.audio.transcriptions.create(
        model="local-transcription",
        file=("a.wav", spoken_wav, "audio/wav"),
        response_format=response_format,
    )

    assert isinstance(transcript, str)
    assert "weather" in transcript
    if response_format == "srt":
        assert transcript.startswith("1\n00:00:00,")
        assert " --> 00:00:0" in transcript
    if response_format == "vtt":
        assert transcript.startswith("WEBVTT\n\n00:00:00.")


def test_sdk_transcription_errors_are_openai_errors(sdk):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.audio.transcriptions.create(
            model="local-transcription",
            file=("notes.wav", b"just some text, not audio", "audio/wav"),
        )
    assert caught.value.code == "unsupported_file_type"
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.audio.transcriptions.create(model="nope", file=("a.wav", b"RIFF", "audio/wav"))
    assert caught.value.code == "model_not_found"


def test_sdk_generates_images_as_signed_urls_on_a_real_worker(worker, sdk, dora_key):
    images = sdk.images.generate(model="fake-dalle", prompt="a lighthouse at dawn", n=2)

    assert len(images.data) == 2 and len(worker.job_ids) == 1
    for index, image in enumerate(images.data):
        # The link needs no credentials; it is signed and expires.
        download = httpx.get(image.url)
        assert download.status_code == 200
        assert download.headers["content-type"] == "image/png"
        assert download.content == tiny_png(f"a lighthouse at dawn:{index}")
        assert image.revised_prompt == "a lighthouse at dawn"


def test_sdk_generates_images_inline(sdk, http):
    images = sdk.images.generate(
        model="fake-dalle", prompt="a red bicycle", response_format="b64_json"
    )

    assert base64.b64decode(images.data[0].b64_json) == tiny_png("a red bicycle:0")
    response = http.post(
        "/v1/images/generations",
        json={"model": "fake-dalle", "prompt": "a red bicycle", "response_format": "b64_json"},
    )
    assert_valid(response.json(), "ImagesResponse")
    response = http.post("/api/v1/images/generations", json={"model": "fake-dalle", "prompt": "x"})
    assert_valid(response.json(), "ImagesResponse")


def test_sdk_gets_a_demo_placeholder_when_the_provider_is_down(sdk):
    images = sdk.images.generate(
        model="flaky-dalle", prompt="a cat", size="256x256", response_format="b64_json"
    )

    image = Image.open(io.BytesIO(base64.b64decode(images.data[0].b64_json)))
    assert image.format == "PNG" and image.size == (256, 256)


def test_sdk_image_errors(sdk):
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.images.generate(model="broken-dalle", prompt="anything")
    assert caught.value.status_code == 502 and caught.value.code == "provider_error"
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model="fake-dalle", prompt="x", n=50)
    assert caught.value.code == "invalid_request"
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model="fake-whisper", prompt="x")
    assert caught.value.code == "invalid_model_type"
